"""The live stream over a real socket: resume, exactly once, heartbeats, gaps, types, wake-ups."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from patron.customers.schemas import CustomerCreate, CustomerUpdate
from patron.customers.service import customers
from patron.db.engine import Database
from patron.events import jobs as prune_jobs
from patron.events import service as events
from patron.events.models import Event, EventPrune
from patron.kit.clock import utcnow
from patron.security.permissions import Principal, Role
from patron.service.schemas import TicketCreate
from patron.service.service import tickets
from patron.worker import queue
from patron.worker.models import Job
from patron.worker.runner import Worker
from tests.events.conftest import Frame, Servers, api_key, read_frames

STREAM = "/api/v1/events/stream"
SRC = str(Path(__file__).resolve().parents[2] / "src")


def client(base_url: str, key: str) -> httpx.Client:
    timeout = httpx.Timeout(10.0, read=10.0)
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"},
                        timeout=timeout)  # fmt: skip


def create_customers(db: Database, count: int, prefix: str = "C") -> list[str]:
    ids = []
    for i in range(count):
        with db.unit_of_work() as session:
            ids.append(str(customers.create(session, Principal.system(),
                                            CustomerCreate(name=f"{prefix}{i}")).id))  # fmt: skip
    return ids


def all_events(db: Database) -> list[Event]:
    with db.unit_of_work(write=False) as session:
        return events.list_after(session, Principal.system(), after=0, limit=100_000)


def events_only(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f.comment is None]


# ----- resume: every event exactly once -----------------------------------------------------------
def test_dropped_client_resumes_with_last_event_id_exactly_once(
    db: Database, servers: Servers
) -> None:
    live = servers.start()
    key = api_key(db)
    total = 60
    rng = random.Random(20261125)

    def write() -> None:
        pace = random.Random(7)
        for i in range(total):
            with db.unit_of_work() as session:
                customers.create(session, Principal.system(), CustomerCreate(name=f"R{i}"))
            time.sleep(pace.uniform(0, 0.03))

    # Everything before the writer starts (the test's own user) is already in the log.
    with db.unit_of_work(write=False) as session:
        begin = events.last_position(session)
    writer = threading.Thread(target=write)
    writer.start()
    received: list[Frame] = []
    connections = 0
    last_id = str(begin)
    deadline = time.monotonic() + 90
    with client(live.url, key) as http:
        while len(received) < total:
            assert time.monotonic() < deadline, f"only {len(received)} of {total} arrived"
            connections += 1
            cut = rng.randint(1, 5000)  # drop after a random number of bytes, even mid-frame
            with http.stream("GET", STREAM, headers={"Last-Event-ID": last_id}) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                frames = read_frames(
                    response,
                    stop=lambda got: len(events_only(got)) + len(received) >= total,
                    cut_after_bytes=cut,
                )
            for frame in events_only(frames):
                received.append(frame)
                last_id = frame.id or last_id
    writer.join()
    expected = [e for e in all_events(db) if e.position > begin]
    assert [int(f.id or 0) for f in received] == [e.position for e in expected]
    assert [json.loads(f.data)["id"] for f in received] == [str(e.id) for e in expected]
    assert [f.event for f in received] == ["customer.created"] * total
    assert connections > 5  # the drops really happened
    body = json.loads(received[0].data)
    assert body["type"] == "customer.created"
    assert body["position"] == int(received[0].id or 0)
    assert body["data"]["name"] == "R0"


# ----- heartbeats, types, authorization --------------------------------------------------------
def test_heartbeats_arrive_when_nothing_happens(db: Database, servers: Servers) -> None:
    live = servers.start(stream_heartbeat_seconds=0.3, stream_poll_seconds=5)
    with client(live.url, api_key(db)) as http, http.stream("GET", STREAM) as response:
        started = time.monotonic()
        frames = read_frames(response, stop=lambda got: len(got) >= 3)
        elapsed = time.monotonic() - started
    assert [f.comment for f in frames] == ["heartbeat"] * 3
    assert 0.6 <= elapsed < 5


def test_types_filter_on_the_stream(db: Database, servers: Servers) -> None:
    live = servers.start()
    [customer_id] = create_customers(db, 1)
    with db.unit_of_work() as session:
        ticket = tickets.create(
            session, Principal.system(), TicketCreate(customer_id=customer_id, subject="Help")
        )
        customers.update(session, Principal.system(), ticket.customer_id, CustomerUpdate(city="X"))
    params = {"after": "0", "types": "ticket.*,customer.updated"}
    with client(live.url, api_key(db)) as http, http.stream("GET", STREAM, params=params) as r:
        frames = events_only(read_frames(r, stop=lambda got: len(events_only(got)) >= 2))
    assert [f.event for f in frames] == ["ticket.created", "customer.updated"]
    assert json.loads(frames[0].data)["entity_id"] == str(ticket.id)


def test_stream_authorization_and_bad_input(db: Database, servers: Servers) -> None:
    live = servers.start()
    with httpx.Client(base_url=live.url, timeout=10) as anonymous:
        refused = anonymous.get(STREAM)
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
    with client(live.url, api_key(db, Role.ANALYST)) as analyst:
        assert analyst.get(STREAM).status_code == 403
    with client(live.url, api_key(db)) as admin:
        bad = admin.get(STREAM, headers={"Last-Event-ID": "12abc"})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "Last-Event-ID"
        assert admin.get(STREAM, params={"types": "nope"}).status_code == 422


def test_last_event_id_wins_over_after(db: Database, servers: Servers) -> None:
    live = servers.start()
    create_customers(db, 3)
    positions = [e.position for e in all_events(db) if e.type == "customer.created"]
    headers = {"Last-Event-ID": str(positions[1])}
    with (
        client(live.url, api_key(db)) as http,
        http.stream(
            "GET", STREAM, params={"after": "0", "types": "customer.created"}, headers=headers
        ) as response,
    ):
        frames = events_only(read_frames(response, stop=lambda got: len(events_only(got)) >= 1))
    assert [int(f.id or 0) for f in frames] == positions[2:]


# ----- retention: pruning and the gap event ----------------------------------------------------
def age_events(db: Database, hours: float, through: int) -> None:
    with db.unit_of_work() as session:
        session.execute(
            update(Event)
            .where(Event.position <= through)
            .values(occurred_at=utcnow() - timedelta(hours=hours))
        )


def test_gap_event_when_the_position_was_pruned(db: Database, servers: Servers) -> None:
    live = servers.start(event_retention_hours=72)
    create_customers(db, 5, prefix="Old")
    old = [e.position for e in all_events(db)]
    age_events(db, 24 * 30, through=old[-1])  # past the default retention the worker reads
    with db.unit_of_work() as session:
        some = customers.list(session, Principal.system()).items[0].id
        events.record(
            session, Principal.system(), type="customer.noted", entity="customer", entity_id=some
        )
    # The oldest event is far past an interval old and no prune has run: the worker's first round
    # enqueues one (a worker built without settings too) and runs it.
    assert Worker(db).run_until_idle() == 1
    with db.unit_of_work(write=False) as session:
        [prune] = session.query(Job).filter(Job.kind == prune_jobs.JOB_KIND).all()
    assert prune.status == "succeeded", prune.last_error
    kept = all_events(db)
    assert [e.type for e in kept] == ["customer.noted"]
    with db.unit_of_work(write=False) as session:
        assert events.pruned_through(session) == old[-1]
        assert session.query(EventPrune).one().deleted == len(old)
    assert Worker(db).run_until_idle() == 0  # the next one is due an interval after this one

    with client(live.url, api_key(db)) as http:
        with http.stream("GET", STREAM, headers={"Last-Event-ID": str(old[1])}) as response:
            frames = events_only(read_frames(response, stop=lambda got: len(events_only(got)) >= 2))
        assert frames[0].event == "gap"
        assert frames[0].id == str(old[-1])
        assert json.loads(frames[0].data) == {
            "requested": old[1], "resume_from": old[-1], "retention_hours": 72,
        }  # fmt: skip
        assert frames[1].event == "customer.noted"
        # Resuming from the gap's id (as a browser would) continues without another gap.
        with http.stream("GET", STREAM, headers={"Last-Event-ID": frames[0].id}) as response:
            again = events_only(read_frames(response, stop=lambda got: len(events_only(got)) >= 1))
        assert [f.event for f in again] == ["customer.noted"]
        # A position at or after the pruned point resumes normally.
        with http.stream("GET", STREAM, params={"after": str(old[-1])}) as response:
            later = events_only(read_frames(response, stop=lambda got: len(events_only(got)) >= 1))
        assert [f.event for f in later] == ["customer.noted"]


def test_prune_keeps_recent_events_and_works_in_batches(db: Database) -> None:
    create_customers(db, 7)
    positions = [e.position for e in all_events(db)]
    age_events(db, 200, through=positions[4])
    with db.unit_of_work() as session:
        first = events.prune_batch(session, retention=timedelta(hours=72), batch=3)
    assert (first.deleted, first.through_position, first.done) == (3, positions[2], False)
    with db.unit_of_work() as session:
        second = events.prune_batch(session, retention=timedelta(hours=72), batch=3)
    assert (second.deleted, second.through_position, second.done) == (2, positions[4], True)
    with db.unit_of_work() as session:
        third = events.prune_batch(session, retention=timedelta(hours=72), batch=3)
    assert (third.deleted, third.done) == (0, True)
    assert [e.position for e in all_events(db)] == positions[5:]
    # A recurring run is due one interval after the last one finished, not before.
    finished = utcnow()
    with db.unit_of_work() as session:
        job = queue.enqueue(session, prune_jobs.JOB_KIND, {})
        job.status, job.finished_at = "succeeded", finished
    due = finished + prune_jobs.EVERY
    with db.unit_of_work() as session:
        assert prune_jobs.enqueue_if_due(session, due - timedelta(minutes=1)) is None
        assert prune_jobs.enqueue_if_due(session, due) is not None


# ----- disconnects and shutdown ---------------------------------------------------------------
def wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_stream_ends_when_the_client_goes(db: Database, servers: Servers) -> None:
    live = servers.start()
    with client(live.url, api_key(db)) as http:
        for _ in range(3):
            with http.stream("GET", STREAM) as response:
                # A frame means the stream subscribed (it does before its first byte); the
                # count itself is not asserted here: on SQLite the server has at times already
                # ended a stream by the time the client reads its first heartbeat.
                assert read_frames(response, stop=lambda got: len(got) >= 1)
    wait_until(lambda: live.hub.subscribers == 0)  # registering is checked in the next test


def test_streams_end_cleanly_when_the_hub_closes(db: Database, servers: Servers) -> None:
    """Application shutdown closes the hub: open streams finish their response normally."""
    live = servers.start()
    finished: list[str] = []

    def listen() -> None:
        with client(live.url, api_key(db)) as http, http.stream("GET", STREAM) as response:
            read_frames(response, stop=lambda got: False)  # until the server ends the body
            finished.append("complete")

    readers = [threading.Thread(target=listen) for _ in range(3)]
    for reader in readers:
        reader.start()
    wait_until(lambda: live.hub.subscribers == 3)
    live.hub.close()
    for reader in readers:
        reader.join(timeout=10)
    assert finished == ["complete"] * 3
    assert live.stop() < 5


def test_server_shutdown_with_open_streams_does_not_hang(db: Database, servers: Servers) -> None:
    live = servers.start()
    ended = threading.Event()

    def listen() -> None:
        try:
            with client(live.url, api_key(db)) as http, http.stream("GET", STREAM) as response:
                read_frames(response, stop=lambda got: False)
        except httpx.HTTPError:
            pass  # a connection cut by the server is how a stream ends on a forced stop
        ended.set()

    reader = threading.Thread(target=listen)
    reader.start()
    wait_until(lambda: live.hub.subscribers == 1)
    took = live.stop()
    assert ended.wait(10)
    reader.join(timeout=5)
    assert took < 8
    assert live.hub.closing


# ----- several processes ------------------------------------------------------------------------
WRITER = """
import sys
from patron.customers.schemas import CustomerCreate
from patron.customers.service import customers
from patron.db.engine import Database
from patron.security.permissions import Principal

database = Database(sys.argv[1])
with database.unit_of_work() as session:
    customers.create(session, Principal.system(), CustomerCreate(name=sys.argv[2]))
database.dispose()
"""


def write_from_another_process(db: Database, name: str) -> float:
    """Commit a customer from a separate Python process; returns when that process ended."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([sys.executable, "-c", WRITER, db.url, name], check=True, env=env, timeout=60)
    return time.monotonic()


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgres"], indirect=True)  # SQLite streams poll
def test_notify_from_another_process_wakes_the_stream(db: Database, servers: Servers) -> None:
    # Poll and heartbeat far longer than the test: only a notification can deliver in time.
    live = servers.start(stream_poll_seconds=120, stream_heartbeat_seconds=120)
    arrivals: list[tuple[float, Frame]] = []

    def listen() -> None:
        params = {"types": "customer.created"}
        with (
            client(live.url, api_key(db)) as http,
            http.stream("GET", STREAM, params=params) as response,
        ):

            def stop(got: list[Frame]) -> bool:
                arrivals.extend((time.monotonic(), f) for f in got[len(arrivals) :])
                return len(arrivals) >= 2

            read_frames(response, stop=stop)

    reader = threading.Thread(target=listen)
    reader.start()
    wait_until(lambda: live.hub.subscribers == 1 and live.hub.listening.is_set())
    time.sleep(0.3)  # the stream has made its first read and waits
    first_done = write_from_another_process(db, "From afar 1")
    wait_until(lambda: len(arrivals) >= 1, timeout=10)
    second_done = write_from_another_process(db, "From afar 2")
    reader.join(timeout=20)
    assert not reader.is_alive()
    names = [json.loads(frame.data)["data"]["name"] for _, frame in arrivals]
    assert names == ["From afar 1", "From afar 2"]
    assert arrivals[0][0] - first_done < 3
    assert arrivals[1][0] - second_done < 3


def test_two_app_processes_share_one_log(db: Database, servers: Servers) -> None:
    """A stream on one server sees writes made through another server's API."""
    reading, writing = servers.start(), servers.start()
    key = api_key(db)
    got: list[Frame] = []

    def listen() -> None:
        params = {"types": "customer.*"}
        with (
            client(reading.url, key) as http,
            http.stream("GET", STREAM, params=params) as response,
        ):
            frames = read_frames(response, stop=lambda got: len(events_only(got)) >= 3)
            got.extend(events_only(frames))

    reader = threading.Thread(target=listen)
    reader.start()
    wait_until(lambda: reading.hub.subscribers == 1)
    time.sleep(0.3)
    with client(writing.url, key) as http:
        made = http.post("/api/v1/customers", json={"name": "Via B"}).json()
        http.patch(f"/api/v1/customers/{made['id']}", json={"city": "Oslo"})
        assert http.delete(f"/api/v1/customers/{made['id']}").status_code == 204
    reader.join(timeout=20)
    assert [f.event for f in got] == ["customer.created", "customer.updated", "customer.deleted"]


# ----- the pages' stream ----------------------------------------------------------------------
def test_page_stream_sends_visible_changes_to_a_session(
    db: Database, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    from patron.security import passwords
    from patron.security import service as security
    from patron.security.schemas import TeamCreate, UserCreate
    from tests.web.test_pages_http import hidden

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    live = servers.start()
    with db.unit_of_work() as session:
        north = security.teams.create(session, Principal.system(), TeamCreate(name="North")).id
        south = security.teams.create(session, Principal.system(), TeamCreate(name="South")).id
        rep = security.create_user(
            session,
            Principal.system(),
            UserCreate(
                email="rep@example.com", role=Role.SALES, team_id=north, password="rep-passphrase-1"
            ),
        )
    with httpx.Client(base_url=live.url, timeout=10) as browser:
        form = browser.get("/login")
        logged = browser.post("/login", data={
            "email": rep.email, "password": "rep-passphrase-1",
            "csrf_token": hidden(form.text, "csrf_token")})  # fmt: skip
        assert logged.status_code == 303
        page = browser.get("/customers")
        after = re.search(r'data-live-after="(\d+)"', page.text)
        assert after, "the customers page names where its live updates start"
        got: list[Frame] = []

        def listen() -> None:
            url = f"/live/customers?after={after.group(1)}"
            with browser.stream("GET", url) as response:
                assert response.status_code == 200
                got.extend(events_only(read_frames(
                    response, stop=lambda frames: len(events_only(frames)) >= 2)))  # fmt: skip

        reader = threading.Thread(target=listen)
        reader.start()
        with db.unit_of_work() as session:
            theirs = customers.create(session, Principal.system(),
                                      CustomerCreate(name="Theirs", team_id=south))  # fmt: skip
            mine = customers.create(session, Principal.system(),
                                    CustomerCreate(name="Mine", team_id=north))  # fmt: skip
        with db.unit_of_work() as session:
            customers.update(session, Principal.system(), mine.id, CustomerUpdate(city="Oslo"))
        reader.join(timeout=20)
    assert [f.event for f in got] == ["change", "change"]
    assert [json.loads(f.data) for f in got] == [
        {"entity_id": str(mine.id), "type": "customer.created"},
        {"entity_id": str(mine.id), "type": "customer.updated"},
    ]
    assert str(theirs.id) not in "".join(f.data for f in got)
    with httpx.Client(base_url=live.url, timeout=10) as stranger:
        assert stranger.get("/live/customers", follow_redirects=False).status_code == 303


def test_stream_ends_after_its_lifetime_and_credentials_are_checked_again(
    db: Database, servers: Servers
) -> None:
    from patron.security.models import ApiKey

    live = servers.start(stream_max_seconds=1.0)
    key = api_key(db)
    with client(live.url, key) as http:
        started = time.monotonic()
        with http.stream("GET", STREAM) as response:
            frames = read_frames(response, stop=lambda got: False)  # until the server ends it
        assert 0.9 <= time.monotonic() - started < 5
        assert [f.comment for f in frames][:1] == ["heartbeat"]
        with db.unit_of_work() as session:
            session.execute(update(ApiKey).values(revoked_at=utcnow()))
        assert http.get(STREAM).status_code == 401
