"""Scheduled backups: the worker enqueues them when due, runs them, and keeps the newest N."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from patron.backup import jobs, service
from patron.config import Settings
from patron.db.engine import Database
from patron.worker.models import Job
from patron.worker.runner import Worker
from tests.backup.conftest import KEY, add_customers


@pytest.fixture
def scheduled_settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db.url,
        backup_key=SecretStr(KEY),
        backup_schedule="6h",
        backup_keep=2,
        worker_in_process=False,
    )


def backup_jobs(db: Database) -> list[Job]:
    with db.unit_of_work(write=False) as session:
        statement = select(Job).where(Job.kind == jobs.JOB_KIND).order_by(Job.created_at)
        return list(session.scalars(statement))


def age_jobs(db: Database, hours: int) -> None:
    """Move every backup job back in time, as if the schedule's interval had passed."""
    with db.unit_of_work() as session:
        for job in backup_jobs(db):
            session.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(created_at=job.created_at - timedelta(hours=hours))
                .execution_options(synchronize_session=False)
            )


def test_the_worker_backs_up_on_schedule_and_keeps_the_newest(
    db: Database, scheduled_settings: Settings
) -> None:
    add_customers(db, 2)
    directory = scheduled_settings.resolved_backup_dir
    assert Worker(db, settings=scheduled_settings).run_until_idle() == 1
    [job] = backup_jobs(db)
    assert job.status == "succeeded", job.last_error
    assert job.progress_message is not None
    assert job.progress_message.startswith("Wrote patron-backup-")
    [first] = service.list_backups(directory)

    assert Worker(db, settings=scheduled_settings).run_until_idle() == 0  # not due yet
    age_jobs(db, 5)
    assert Worker(db, settings=scheduled_settings).run_until_idle() == 0  # 5 h < 6 h

    made = [first]
    for _ in range(2):
        age_jobs(db, 6)
        assert Worker(db, settings=scheduled_settings).run_until_idle() == 1
        made.append(service.list_backups(directory)[-1])
    assert [job.status for job in backup_jobs(db)] == ["succeeded"] * 3
    kept = service.list_backups(directory)
    assert kept == made[1:]  # keep 2: the oldest went, with its checksum file
    assert not first.exists()
    assert not first.with_name(first.name + ".sha256").exists()
    assert service.verify(scheduled_settings, kept[-1]).ok


def test_no_schedule_no_backups(db: Database, scheduled_settings: Settings) -> None:
    unscheduled = scheduled_settings.model_copy(update={"backup_schedule": None})
    assert Worker(db, settings=unscheduled).run_until_idle() == 0
    assert Worker(db).run_until_idle() == 0
    assert backup_jobs(db) == []


def test_checking_twice_enqueues_once(db: Database, scheduled_settings: Settings) -> None:
    from patron.kit.clock import utcnow

    for _ in range(2):  # two workers' checks, one after the other
        Worker(db, settings=scheduled_settings).enqueue_scheduled()
    assert len(backup_jobs(db)) == 1
    with db.unit_of_work() as session:
        assert jobs.enqueue_if_due(session, utcnow(), settings=scheduled_settings) is None
    assert len(backup_jobs(db)) == 1
