"""Scheduled backups: the worker enqueues a ``backup.create`` job when one is due and runs it.

The schedule is ``PATRON_BACKUP_SCHEDULE`` (see ``schedule``); after each scheduled backup the
``PATRON_BACKUP_KEEP`` newest backups in the backup directory are kept and older ones deleted.
Several workers may check at once: the worker calls ``enqueue_if_due`` under
``queue.lock_schedule`` (on PostgreSQL an advisory lock, on SQLite the writer lock), so only one of
them enqueues.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.backup import service
from patron.backup.schedule import parse_schedule
from patron.config import Settings
from patron.worker import queue
from patron.worker.models import Job

JOB_KIND = "backup.create"
REPORT_EVERY_SECONDS = 2.0


def last_started(session: Session) -> datetime | None:
    return session.scalar(select(func.max(Job.created_at)).where(Job.kind == JOB_KIND))


def enqueue_if_due(session: Session, now: datetime, *, settings: Settings) -> Job | None:
    """Enqueue a scheduled backup when the schedule says one is due (called under the schedule
    lock, see ``patron.worker.kinds.Scheduled``)."""
    if not settings.backup_schedule:
        return None
    if not parse_schedule(settings.backup_schedule).is_due(last_started(session), now):
        return None
    return queue.enqueue(session, JOB_KIND, {"scheduled": True})


def run_job(context: queue.JobContext, payload: dict[str, Any]) -> None:
    settings = context.settings or Settings()
    last = [0.0]

    def report(step: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] >= REPORT_EVERY_SECONDS:
            last[0] = now
            context.report(done / total if total else 0.0, step)

    created = service.create(settings, report=report)
    removed = service.prune(settings.resolved_backup_dir, settings.backup_keep)
    message = f"Wrote {created.path.name}; removed {len(removed)} older backup(s)."
    context.report(1.0, message)
