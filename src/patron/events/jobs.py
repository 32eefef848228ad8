"""The retention job: prune events older than ``PATRON_EVENT_RETENTION_HOURS``, in batches."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from patron.config import Settings
from patron.events import service
from patron.worker.queue import JobContext

JOB_KIND = "events.prune"
EVERY = timedelta(hours=1)


def run_job(context: JobContext, payload: dict[str, Any]) -> None:
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
