"""Every job kind and the function that runs it, registered in one visible place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from patron.config import Settings

Scheduled = Callable[[Session, datetime], object]
"""Enqueues its job when it is due; called by the worker every ``SCHEDULE_CHECK_SECONDS``."""


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
    queue.register_recurring(events.JOB_KIND, every=events.EVERY)


def scheduled(settings: Settings) -> list[Scheduled]:
    """The recurring jobs the settings ask for (scheduled backups)."""
    from patron.backup import jobs as backup_jobs

    found: list[Scheduled] = []
    if settings.backup_schedule:
        found.append(partial(backup_jobs.enqueue_if_due, settings=settings))
    return found
