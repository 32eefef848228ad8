"""Every job kind and the function that runs it, and every recurring job, in one visible place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from patron.config import Settings

Scheduled = Callable[[Session, datetime], object]
"""Enqueues its job when it is due (and returns it), else does nothing.

The worker calls each one every ``SCHEDULE_CHECK_SECONDS`` in its own transaction, holding the
schedule lock (``queue.lock_schedule``), so a check and its enqueue are never interleaved with
another worker's: a ``Scheduled`` only has to look at the job table to decide.
"""


def register_all() -> None:
    from patron.backup import jobs as backup_jobs
    from patron.events import jobs as events
    from patron.insights import service as insights
    from patron.integration import duplicates, imports
    from patron.worker import queue

    queue.register(insights.JOB_KIND, insights.run_job)
    queue.register(duplicates.JOB_KIND, duplicates.run_job)
    queue.register(imports.JOB_KIND, imports.run_job)
    queue.register(backup_jobs.JOB_KIND, backup_jobs.run_job)
    queue.register(events.JOB_KIND, events.run_job)


def scheduled(settings: Settings | None) -> list[Scheduled]:
    """Every recurring job: event pruning always, backups when ``backup_schedule`` is set.

    Parameters
    ----------
    settings
        The worker's settings; ``None`` (a worker built without them, as tests do) still prunes.
    """
    from patron.backup import jobs as backup_jobs
    from patron.events import jobs as events

    found: list[Scheduled] = [events.enqueue_if_due]
    if settings is not None and settings.backup_schedule:
        found.append(partial(backup_jobs.enqueue_if_due, settings=settings))
    return found
