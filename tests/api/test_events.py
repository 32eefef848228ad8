"""The change feed: one event per committed change, in commit order, resumable by cursor."""

from __future__ import annotations

import threading

from patron.customers.schemas import CustomerCreate
from patron.customers.service import customers
from patron.db.engine import Database
from patron.events import service as events
from patron.security.permissions import Principal
from tests.conftest import Caller
from tests.factories import make_customer


def read_feed(caller: Caller, after: str | None = None, limit: int = 100) -> tuple[list, str]:
    url = f"/api/v1/events?limit={limit}" + (f"&after={after}" if after else "")
    response = caller.get(url)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["data"], body["next_cursor"]


def test_changes_write_events(admin: Caller) -> None:
    _, cursor = read_feed(admin)
    customer = make_customer(admin, name="Eve")
    admin.patch(f"/api/v1/customers/{customer['id']}", json={"city": "Oslo", "country": "NO"})
    admin.patch(f"/api/v1/customers/{customer['id']}", json={"city": "Oslo"})  # no change
    admin.delete(f"/api/v1/customers/{customer['id']}")
    data, cursor = read_feed(admin, cursor)
    assert [e["type"] for e in data] == ["customer.created", "customer.updated", "customer.deleted"]
    assert data[1]["changed"] == ["city", "country"]
    assert data[1]["data"]["city"] == "Oslo"
    assert data[1]["actor_type"] == "api_key"
    assert {e["entity_id"] for e in data} == {customer["id"]}
    assert read_feed(admin, cursor)[0] == []


def test_refused_change_writes_no_event(admin: Caller) -> None:
    _, cursor = read_feed(admin)
    response = admin.post("/api/v1/customers", json={"name": "X", "company_id": "nope"})
    assert response.status_code == 422
    assert read_feed(admin, cursor)[0] == []


def test_feed_pages_have_no_gaps_or_repeats(admin: Caller) -> None:
    for i in range(12):
        make_customer(admin, name=f"C{i}")
    seen: list[str] = []
    cursor = None
    while True:
        data, cursor = read_feed(admin, cursor, limit=5)
        if not data:
            break
        seen.extend(e["id"] for e in data)
    everything, _ = read_feed(admin)
    assert seen == [e["id"] for e in everything]
    assert len(seen) == len(set(seen)) >= 12


def test_only_admins_read_the_feed(callers) -> None:  # type: ignore[no-untyped-def]
    analyst = callers.make("analyst")
    assert analyst.get("/api/v1/events").status_code == 403


def test_feed_follows_commit_order_under_concurrent_writers(db: Database) -> None:
    """Readers polling while writers commit see every event once, in order."""
    system = Principal.system()
    writers, per_writer = 4, 15
    done = threading.Event()
    seen: list[int] = []

    def write(index: int) -> None:
        for i in range(per_writer):
            with db.unit_of_work() as session:
                customers.create(session, system, CustomerCreate(name=f"W{index}-{i}"))

    def read() -> None:
        position = 0
        while True:
            finished = done.is_set()
            with db.unit_of_work(write=False) as session:
                batch = events.list_after(session, system, after=position, limit=50)
            for event in batch:
                seen.append(event.position)
                position = event.position
            if finished and not batch:
                return

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join(timeout=60)
    with db.unit_of_work(write=False) as session:
        everything = [e.position for e in events.list_after(session, system, after=0, limit=10_000)]
    assert len(everything) == writers * per_writer
    assert seen == everything
