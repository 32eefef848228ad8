"""The retention job: prune events older than ``PATRON_EVENT_RETENTION_HOURS``, in batches.

It recurs (see ``patron.worker.kinds.scheduled``): one run at a time, the next ``EVERY`` after
the last one finished.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.config import Settings
from patron.events import service
from patron.events.models import Event
from patron.worker import queue
from patron.worker.models import Job

JOB_KIND = "events.prune"
EVERY = timedelta(hours=1)


def enqueue_if_due(session: Session, now: datetime) -> Job | None:
    """Enqueue a prune when none is queued or running and the last one finished ``EVERY`` ago.

    Before the first prune has finished, one is due once the oldest event is ``EVERY`` old: an
    event is then still pruned within ``EVERY`` of expiring, as with every later run, and a new
    or empty database is not pruned for nothing. The worker calls this under
    ``queue.lock_schedule``, so two workers checking at once enqueue one job between them.
    """
    pending = select(Job.id).where(Job.kind == JOB_KIND, Job.status.in_(("queued", "running")))
    if session.scalars(pending.limit(1)).first() is not None:
        return None
    last = session.scalar(select(func.max(Job.finished_at)).where(Job.kind == JOB_KIND))
    if last is None:
        last = session.scalar(select(func.min(Event.occurred_at)))
    if last is None or now - last < EVERY:
        return None
    return queue.enqueue(session, JOB_KIND, {})


def run_job(context: queue.JobContext, payload: dict[str, Any]) -> None:
    """Each batch commits on its own, so a long backlog never holds one long transaction."""
    hours = int(payload.get("retention_hours") or Settings().event_retention_hours)
    deleted = 0
    while True:
        with context.database.unit_of_work() as session:
            result = service.prune_batch(session, retention=timedelta(hours=hours))
        deleted += result.deleted
        context.report(0.0 if not result.done else 1.0, f"{deleted} events pruned")
        if result.done:
            return
