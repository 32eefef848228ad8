"""The job queue: enqueue in the caller's transaction, claim, finish, retry with backoff.

Claiming uses ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so many workers share the queue;
on SQLite writers are serialised by ``BEGIN IMMEDIATE``, so one claimer at a time is guaranteed.
A job whose worker died (locked longer than ``STALE_AFTER``) is claimed again. Recurring jobs
(``patron.worker.kinds.scheduled``) are enqueued under ``lock_schedule``, one worker at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.orm import Session

from patron.db.engine import Database
from patron.kit.clock import utcnow
from patron.worker.models import Job

if TYPE_CHECKING:
    from patron.config import Settings

STALE_AFTER = timedelta(minutes=30)
SCHEDULE_LOCK = 0x7061_7472_6F6E_0001  # "patron" + 1: one scheduler at a time


class RetryableError(Exception):
    """A job failed for a reason that may pass (a lock, a network hiccup): try again later."""


@dataclass(frozen=True)
class JobContext:
    """What a running job may use: its id, the database, a way to report progress, settings."""

    job_id: uuid.UUID
    database: Database
    report: Callable[[float, str | None], None]
    settings: Settings | None = None


Handler = Callable[[JobContext, dict[str, Any]], None]
_HANDLERS: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> None:
    """Job kinds are registered by the module that owns them (see ``patron.worker.kinds``)."""
    _HANDLERS[kind] = handler


def lock_schedule(session: Session) -> None:
    """Let one worker at a time check and enqueue recurring jobs, until ``session`` commits.

    On PostgreSQL this is a transaction-scoped advisory lock: a second worker waits for it, then
    sees the job the first one committed. On SQLite a writer holds the database's one write lock
    from its ``BEGIN IMMEDIATE``, which serialises them already.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEDULE_LOCK})


def handler_for(kind: str) -> Handler | None:
    return _HANDLERS.get(kind)


def enqueue(session: Session, kind: str, payload: dict[str, Any], *, max_attempts: int = 3) -> Job:
    job = Job(kind=kind, payload=payload, max_attempts=max_attempts, run_after=utcnow())
    session.add(job)
    session.flush()
    return job


def claim(session: Session, worker_id: str) -> Job | None:
    now = utcnow()
    ready = or_(
        (Job.status == "queued") & (Job.run_after <= now),
        (Job.status == "running") & (Job.locked_at < now - STALE_AFTER),
    )
    statement = select(Job).where(ready).order_by(Job.run_after, Job.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    job = session.scalars(statement).first()
    if job is None:
        return None
    job.status = "running"
    job.locked_by = worker_id
    job.locked_at = now
    job.attempts += 1
    session.flush()
    return job


def set_progress(session: Session, job_id: uuid.UUID, progress: float, message: str | None) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(progress=max(0.0, min(1.0, progress)), progress_message=(message or "")[:300])
        .execution_options(synchronize_session=False)
    )


def succeed(session: Session, job: Job) -> None:
    job.status = "succeeded"
    job.progress = 1.0
    job.finished_at = utcnow()
    job.locked_by = None
    session.flush()


def fail(session: Session, job: Job, error: str, *, retryable: bool) -> bool:
    """Record a failure; returns True when the job will be tried again."""
    job.last_error = error[:4000]
    job.locked_by = None
    if retryable and job.attempts < job.max_attempts:
        job.status = "queued"
        job.run_after = utcnow() + timedelta(seconds=min(3600, 5 * 4 ** (job.attempts - 1)))
        session.flush()
        return True
    job.status = "failed"
    job.finished_at = utcnow()
    session.flush()
    return False
