"""Recurring jobs: the worker enqueues each one when due, once, whichever worker checks."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from patron.backup import jobs as backup_jobs
from patron.config import Settings
from patron.customers.schemas import CustomerCreate
from patron.customers.service import customers
from patron.db.engine import Database
from patron.events import jobs as prune_jobs
from patron.events.models import Event
from patron.kit.clock import utcnow
from patron.security.permissions import Principal
from patron.worker import kinds, queue
from patron.worker.models import Job
from patron.worker.runner import Worker


def add_event(db: Database, hours_ago: float = 0.0) -> None:
    """Record an event (a new customer), then date every event ``hours_ago``."""
    with db.unit_of_work() as session:
        customers.create(session, Principal.system(), CustomerCreate(name="Ada"))
    with db.unit_of_work() as session:
        session.execute(update(Event).values(occurred_at=utcnow() - timedelta(hours=hours_ago)))


def jobs_of(db: Database, kind: str) -> list[Job]:
    with db.unit_of_work(write=False) as session:
        statement = select(Job).where(Job.kind == kind).order_by(Job.created_at)
        return list(session.scalars(statement))


def finished_ago(db: Database, job: Job, ago: timedelta) -> None:
    with db.unit_of_work() as session:
        session.execute(update(Job).where(Job.id == job.id).values(finished_at=utcnow() - ago))


def test_every_recurring_job_is_listed_and_backups_follow_the_settings(
    settings: Settings,
) -> None:
    assert kinds.scheduled(None) == [prune_jobs.enqueue_if_due]
    assert kinds.scheduled(settings) == [prune_jobs.enqueue_if_due]
    with_backups = kinds.scheduled(settings.model_copy(update={"backup_schedule": "6h"}))
    assert with_backups[0] is prune_jobs.enqueue_if_due
    assert getattr(with_backups[1], "func", None) is backup_jobs.enqueue_if_due


def test_pruning_recurs_an_interval_after_the_last_run_finished(db: Database) -> None:
    add_event(db)
    assert Worker(db).run_until_idle() == 0  # no event is an interval old: nothing can expire
    assert jobs_of(db, prune_jobs.JOB_KIND) == []

    add_event(db, hours_ago=2)
    assert Worker(db).run_until_idle() == 1  # a worker without settings prunes too
    [first] = jobs_of(db, prune_jobs.JOB_KIND)
    assert first.status == "succeeded", first.last_error
    assert Worker(db).run_until_idle() == 0  # it just finished

    finished_ago(db, first, prune_jobs.EVERY - timedelta(minutes=1))
    assert Worker(db).run_until_idle() == 0
    finished_ago(db, first, prune_jobs.EVERY)
    assert Worker(db).run_until_idle() == 1
    assert [job.status for job in jobs_of(db, prune_jobs.JOB_KIND)] == ["succeeded"] * 2


def test_one_prune_queued_or_running_at_a_time(db: Database) -> None:
    add_event(db, hours_ago=2)
    for _ in range(2):  # two workers, one after the other
        Worker(db).enqueue_scheduled()
    assert [job.status for job in jobs_of(db, prune_jobs.JOB_KIND)] == ["queued"]
    with db.unit_of_work() as session:
        assert queue.claim(session, "elsewhere") is not None
    Worker(db).enqueue_scheduled()
    assert [job.status for job in jobs_of(db, prune_jobs.JOB_KIND)] == ["running"]


def waiting_for_advisory_locks(db: Database) -> int:
    with db.unit_of_work(write=False) as session:
        return int(
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                )
            )
        )


# SQLite serialises every writer from BEGIN IMMEDIATE: the lock is PostgreSQL's.
@pytest.mark.parametrize(
    "db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_workers_checking_at_once_enqueue_each_job_once(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """One worker is between its check and its commit when another checks: the second waits for
    the schedule lock, then sees the first one's jobs. Without the lock it would see none (they
    are not committed yet) and enqueue each job again."""
    scheduled = settings.model_copy(update={"backup_schedule": "6h"})
    add_event(db, hours_ago=2)
    other = Worker(db, settings=scheduled)
    checking = threading.Thread(target=other.enqueue_scheduled)
    with caplog.at_level(logging.ERROR, logger="patron.worker"):
        with db.unit_of_work() as session:
            queue.lock_schedule(session)
            for enqueue_if_due in kinds.scheduled(scheduled):
                assert enqueue_if_due(session, utcnow()) is not None
            checking.start()
            deadline = time.monotonic() + 10
            while checking.is_alive() and not waiting_for_advisory_locks(db):
                assert time.monotonic() < deadline, "the other worker neither waited nor finished"
                time.sleep(0.02)
        checking.join(timeout=10)
    assert not checking.is_alive()
    assert [r.getMessage() for r in caplog.records] == []
    assert len(jobs_of(db, prune_jobs.JOB_KIND)) == 1
    assert len(jobs_of(db, backup_jobs.JOB_KIND)) == 1


def test_a_failing_check_stops_neither_the_others_nor_the_jobs(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    listed = kinds.scheduled

    def broken(session: object, now: object) -> None:
        raise RuntimeError("this schedule is broken")

    monkeypatch.setattr(kinds, "scheduled", lambda settings: [broken, *listed(settings)])
    add_event(db, hours_ago=2)
    with caplog.at_level(logging.ERROR, logger="patron.worker"):
        assert Worker(db).run_until_idle() == 1
    assert [job.status for job in jobs_of(db, prune_jobs.JOB_KIND)] == ["succeeded"]
    assert any("this schedule is broken" in r.exc_text for r in caplog.records if r.exc_text)


def test_the_running_loop_enqueues_them_too(db: Database) -> None:
    """``run_forever`` (``patron worker``, the thread inside ``patron serve``) goes the same way."""
    add_event(db, hours_ago=2)
    worker = Worker(db, poll_seconds=0.05)
    thread = worker.start_thread()
    try:
        deadline = time.monotonic() + 10
        while [job.status for job in jobs_of(db, prune_jobs.JOB_KIND)] != ["succeeded"]:
            assert time.monotonic() < deadline, jobs_of(db, prune_jobs.JOB_KIND)
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
