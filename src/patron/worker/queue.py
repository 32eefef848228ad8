"""The job queue: enqueue in the caller's transaction, claim, finish, retry with backoff.

Claiming uses ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so many workers share the queue;
on SQLite writers are serialised by ``BEGIN IMMEDIATE``, so one claimer at a time is guaranteed.
A job whose worker died (locked longer than ``STALE_AFTER``) is claimed again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from patron.db.engine import Database
from patron.kit.clock import utcnow
from patron.worker.models import Job

if TYPE_CHECKING:
    from patron.config import Settings

STALE_AFTER = timedelta(minutes=30)


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
_RECURRING: dict[str, timedelta] = {}


def register(kind: str, handler: Handler) -> None:
    """Job kinds are registered by the module that owns them (see ``patron.worker.kinds``)."""
    _HANDLERS[kind] = handler


def register_recurring(kind: str, every: timedelta) -> None:
    """Keep one job of ``kind`` queued, due ``every`` after the previous one finished."""
    _RECURRING[kind] = every


def schedule_recurring(session: Session) -> list[Job]:
    """Queue the next run of each recurring kind that has none queued or running."""
    queued = []
    for kind, every in _RECURRING.items():
        pending = select(Job.id).where(Job.kind == kind, Job.status.in_(("queued", "running")))
        if session.scalars(pending.limit(1)).first() is not None:
            continue
        last = session.scalar(
            select(Job.finished_at).where(Job.kind == kind).order_by(Job.finished_at.desc())
        )
        job = enqueue(session, kind, {})
        job.run_after = max(job.run_after, last + every) if last else job.run_after
        queued.append(job)
    session.flush()
    return queued


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
