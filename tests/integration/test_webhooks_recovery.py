"""10,000 events to a receiver that fails 30% of requests at random, with ``patron worker`` run as
a real process and killed with SIGKILL twice mid-run: every event arrives at least once, in order
per record, and every signature verifies (with the test's own Standard Webhooks verifier)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from patron.db.engine import Database
from patron.events import service as events
from patron.integration.webhooks_models import WebhookAttempt, WebhookDelivery
from patron.integration.webhooks_schemas import WebhookCreate
from patron.integration.webhooks_service import webhooks
from patron.integration.webhooks_targets import AllowList
from patron.security.permissions import Principal
from tests.integration.test_webhooks import ALLOW_LOOPBACK, Receiver, receiver

__all__ = ["receiver"]  # the fixture, shared with the smaller tests

EVENTS = 10_000
RECORDS = 1_000
FAILURE_RATE = 0.3
SRC = Path(__file__).resolve().parents[2] / "src"


def start_worker(db: Database, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "PATRON_DATABASE_URL": db.url,
        "PATRON_DATA_DIR": str(data_dir),
        "PATRON_WORKER_POLL_SECONDS": "0.05",
        "PATRON_WEBHOOK_ALLOW_HOSTS": ALLOW_LOOPBACK,
        "PATRON_WEBHOOK_RETRY_BASE_SECONDS": "0.05",
        "PATRON_WEBHOOK_RETRY_CAP_SECONDS": "0.5",
        "PATRON_WEBHOOK_TIMEOUT_SECONDS": "10",
        "PATRON_WEBHOOK_DISPATCH_BATCH": "1000",
        "PATRON_WEBHOOK_SEND_BATCH": "256",
        "PATRON_WEBHOOK_CONCURRENCY": "16",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", "from patron.cli.main import main; main()", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def wait_until_recorded(db: Database, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = select(func.count()).where(WebhookDelivery.status == "pending")
    while time.monotonic() < deadline:
        with db.unit_of_work(write=False) as session:
            if session.scalar(pending) == 0:
                return
        time.sleep(0.2)


@pytest.mark.slow
def test_every_event_arrives_signed_through_random_failures_and_two_kills(
    db: Database, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    state, url = receiver
    rng = random.Random()
    state.answer = lambda _: 500 if rng.random() < FAILURE_RATE else 200
    with db.unit_of_work() as session:
        subscription = webhooks.create(
            session,
            Principal.system(),
            WebhookCreate(url=url, event_types=["customer.*"]),
            allow=AllowList.parse(ALLOW_LOOPBACK),
        )
        state.secrets = [subscription.secret]
    records = [uuid.uuid4() for _ in range(RECORDS)]
    for start in range(0, EVENTS, 1000):
        with db.unit_of_work() as session:
            for index in range(start, start + 1000):
                events.record(
                    session, Principal.system(), type="customer.updated", entity="customer",
                    entity_id=records[index % RECORDS], data={"n": index},
                )  # fmt: skip
    log = tmp_path / "worker.log"
    started = time.monotonic()
    worker = start_worker(db, tmp_path / "data", log)
    try:
        for mark in (EVENTS * 3 // 10, EVENTS * 65 // 100):
            state.wait_for(mark, timeout=200)
            assert worker.poll() is None, log.read_text()
            kill(worker)  # SIGKILL mid-run: no clean-up, claims and batches cut short
            worker = start_worker(db, tmp_path / "data", log)
        state.wait_for(EVENTS, timeout=300)
        wait_until_recorded(db, timeout=60)  # the last answers reach the log after the receiver
    finally:
        kill(worker)
    elapsed = time.monotonic() - started

    failures = sum(1 for received in state.requests if received.status == 500)
    print(
        f"\n{db.dialect}: {EVENTS} events, {len(state.requests)} requests "
        f"({failures} answered 500, {len(state.requests) - failures - EVENTS} repeats) "
        f"in {elapsed:.1f}s with two SIGKILLs"
    )
    with db.unit_of_work(write=False) as session:
        errors = session.execute(
            select(WebhookAttempt.error, func.count()).group_by(WebhookAttempt.error)
        ).all()
    print(sorted(((str(e)[:80], n) for e, n in errors), key=lambda x: -x[1])[:8])
    print([line for line in log.read_text().splitlines() if line and not line[0].isspace()][-20:])
    assert state.bad_signatures == 0
    delivered = {received.event["data"]["n"] for received in state.delivered.values()}
    assert delivered == set(range(EVENTS))  # none lost
    assert failures > EVENTS * FAILURE_RATE * 0.8  # the receiver really failed about 30%
    for positions in state.delivered_order.values():  # first arrivals in event order per record
        assert positions == sorted(positions)
    with db.unit_of_work(write=False) as session:
        rows = session.execute(
            select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
        ).all()
    assert dict(rows) == {"succeeded": EVENTS}  # one delivery row per event: none doubled
