"""The change feed: one event per committed change, in commit order, resumable by cursor."""

from __future__ import annotations

import threading

import pytest

from patron.customers.schemas import CustomerCreate, CustomerUpdate
from patron.customers.service import customers
from patron.db.engine import Database
from patron.events import service as events
from patron.security.permissions import Principal
from patron.service.schemas import TicketCreate
from patron.service.service import tickets
from tests.conftest import Caller
from tests.factories import make_customer


def read_feed(
    caller: Caller, after: str | None = None, limit: int = 100, types: str | None = None
) -> tuple[list, str]:
    params: dict[str, str | int] = {"limit": limit}
    if after:
        params["after"] = after
    if types:
        params["types"] = types
    response = caller.get("/api/v1/events", params=params)
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


def test_types_filter_exact_and_prefix(admin: Caller) -> None:
    _, cursor = read_feed(admin)
    customer = make_customer(admin, name="Typed")
    admin.patch(f"/api/v1/customers/{customer['id']}", json={"city": "Oslo"})
    ticket = admin.post("/api/v1/tickets", json={"customer_id": customer["id"], "subject": "Hi"})
    admin.patch(f"/api/v1/tickets/{ticket.json()['id']}", json={"priority": "high"})

    def types_of(types: str) -> list[str]:
        return [e["type"] for e in read_feed(admin, cursor, types=types)[0]]

    assert types_of("customer.created") == ["customer.created"]
    assert types_of("customer.created,ticket.updated") == ["customer.created", "ticket.updated"]
    assert types_of("ticket.*") == ["ticket.created", "ticket.updated"]
    assert types_of(" customer.* , ticket.created ") == [
        "customer.created", "customer.updated", "ticket.created",
    ]  # fmt: skip
    assert types_of("deal.*") == []
    everything = read_feed(admin, cursor)[0]
    assert [e["type"] for e in everything] == [
        "customer.created", "customer.updated", "ticket.created", "ticket.updated",
    ]  # fmt: skip
    # ``after`` also takes a plain position, the live stream's event id.
    later = read_feed(admin, str(everything[1]["position"]))[0]
    assert [e["id"] for e in later] == [e["id"] for e in everything[2:]]
    assert everything[0]["position"] < everything[1]["position"]


@pytest.mark.parametrize("types", ["customer", "customer.*.*", "*", "Customer.created", "a,b%"])
def test_bad_types_are_refused(admin: Caller, types: str) -> None:
    response = admin.get("/api/v1/events", params={"types": types})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "types"


def test_prefix_is_not_a_like_pattern(db: Database) -> None:
    """``ab_c.*`` must not match ``abxc.``: the underscore is a character, not a wildcard."""
    system = Principal.system()
    with db.unit_of_work() as session:
        customer = customers.create(session, system, CustomerCreate(name="Like"))
        for type in ("abxc.made", "ab_c.made"):
            events.record(session, system, type=type, entity="x", entity_id=customer.id)
    with db.unit_of_work(write=False) as session:
        found = events.list_after(session, system, after=0, limit=10, types=("ab_c.*",))
    assert [e.type for e in found] == ["ab_c.made"]


@pytest.mark.parametrize("types", [None, ("customer.updated", "ticket.*")], ids=["all", "types"])
def test_feed_follows_commit_order_under_concurrent_writers(
    db: Database, types: tuple[str, ...] | None
) -> None:
    """Readers polling while writers commit see every (matching) event once, in order."""
    system = Principal.system()
    writers, per_writer = 4, 15
    done = threading.Event()
    seen: list[int] = []

    def write(index: int) -> None:
        for i in range(per_writer):
            with db.unit_of_work() as session:
                customer = customers.create(session, system, CustomerCreate(name=f"W{index}-{i}"))
                if types and i % 3 == 0:
                    data = TicketCreate(customer_id=customer.id, subject="Help")
                    tickets.create(session, system, data)
            if types and i % 2 == 0:
                with db.unit_of_work() as session:
                    update = CustomerUpdate(city=f"City {i}")
                    customers.update(session, system, customer.id, update)

    def read() -> None:
        position = 0
        while True:
            finished = done.is_set()
            with db.unit_of_work(write=False) as session:
                batch = events.list_after(session, system, after=position, limit=7, types=types)
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
        every = events.list_after(session, system, after=0, limit=10_000)
    created = [e for e in every if e.type == "customer.created"]
    assert len(created) == writers * per_writer
    if types is None:
        assert seen == [e.position for e in every]
    else:
        expected = [
            e for e in every if e.type == "customer.updated" or e.type.startswith("ticket.")
        ]
        assert len(expected) == writers * (5 + 8)  # 5 tickets and 8 updates per writer
        assert seen == [e.position for e in expected]


def test_feed_refuses_a_cursor_older_than_the_retention(db: Database, admin: Caller) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from patron.events.models import Event
    from patron.kit.clock import utcnow

    for i in range(4):
        make_customer(admin, name=f"Old {i}")
    old, _ = read_feed(admin)
    with db.unit_of_work() as session:
        session.execute(
            update(Event)
            .where(Event.position <= old[2]["position"])
            .values(occurred_at=utcnow() - timedelta(hours=100))
        )
    with db.unit_of_work() as session:
        events.prune_batch(session, retention=timedelta(hours=72))
    through = old[2]["position"]

    expired = admin.get("/api/v1/events", params={"after": str(old[0]["position"])})
    assert expired.status_code == 410
    assert expired.json()["code"] == "cursor_expired"
    assert expired.json()["resume_from"] == through
    kept, _ = read_feed(admin, str(through))
    assert [e["id"] for e in kept] == [e["id"] for e in old[3:]]
    assert [e["id"] for e in read_feed(admin)[0]] == [e["id"] for e in old[3:]]
