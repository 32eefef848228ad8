"""``create_many`` / ``update_many``: the rules, events and audit entries of ``create`` and
``update``, for a batch, with a refused item leaving the others be."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.customers.models import Customer
from patron.customers.schemas import CustomerCreate, CustomerRead, CustomerUpdate
from patron.customers.service import customers
from patron.db.engine import Database
from patron.errors import NotFound, PermissionDenied, ValidationFailed, VersionConflict
from patron.events.models import Event
from patron.sales.schemas import OrderCreate, ProductCreate
from patron.sales.service import orders, products
from patron.security import audit
from patron.security import service as security
from patron.security.audit_models import AuditEntry
from patron.security.permissions import Principal, Role
from patron.security.schemas import TeamCreate, UserCreate

SYSTEM = Principal.system()
BOOKKEEPING = {"id", "created_at", "updated_at"}


def events_of(session: Session, record_id: uuid.UUID) -> list[Event]:
    statement = select(Event).where(Event.entity_id == record_id).order_by(Event.position)
    return list(session.scalars(statement))


def entries_of(session: Session, record_id: uuid.UUID) -> list[AuditEntry]:
    statement = select(AuditEntry).where(AuditEntry.entity_id == record_id)
    return list(session.scalars(statement.order_by(AuditEntry.id)))


def shape(event: Event) -> tuple[str, list[str], dict[str, Any]]:
    """An event without what differs between two records: ids, times, the values of the keys."""
    data = {k: v for k, v in event.data.items() if k not in BOOKKEEPING}
    return event.type, event.changed, {k: v for k, v in data.items() if k not in KEYS}


KEYS = {"name", "email", "external_id"}


def person(tag: str, **fields: Any) -> CustomerCreate:
    return CustomerCreate(
        name=f"Person {tag}", email=f"{tag}@example.com", external_id=tag, tags=["vip"],
        country="DE", **fields,
    )  # fmt: skip


def test_create_many_writes_what_create_writes(db: Database) -> None:
    with db.unit_of_work() as session:
        single = customers.create(session, SYSTEM, person("s1"))
        results = customers.create_many(
            session,
            SYSTEM,
            [person("b1"), person("s1"), person("b2"), person("b2"), person("b3")],
        )
        assert [type(result).__name__ for result in results] == [
            "Customer", "ValidationFailed", "Customer", "ValidationFailed", "Customer",
        ]  # fmt: skip
        for refused in (results[1], results[3]):
            assert isinstance(refused, ValidationFailed)
            assert refused.extra["errors"][0]["field"] == "external_id"
        made = [result for result in results if isinstance(result, Customer)]
        assert [c.external_id for c in made] == ["b1", "b2", "b3"]
        single_event, *rest = events_of(session, single.id)
        assert rest == []
        (single_entry,) = entries_of(session, single.id)
        for customer in made:
            (event,) = events_of(session, customer.id)
            assert shape(event) == shape(single_event)
            assert event.data == CustomerRead.model_validate(customer).model_dump(mode="json")
            (entry,) = entries_of(session, customer.id)
            assert (entry.action, set(entry.changes)) == ("create", set(single_entry.changes))
            assert entry.changes["country"] == {"before": None, "after": "DE"}
        assert audit.verify(session).intact
    with db.unit_of_work(write=False) as session:
        stored = session.scalars(select(Customer.external_id).order_by(Customer.external_id))
        assert stored.all() == ["b1", "b2", "b3", "s1"]


def test_update_many_writes_what_update_writes(db: Database) -> None:
    with db.unit_of_work() as session:
        one, two, three, four = (
            customers.create(session, SYSTEM, person(tag)) for tag in ("u1", "u2", "u3", "u4")
        )
        customers.update(session, SYSTEM, one.id, CustomerUpdate(city="Oslo", country="NO"))
        results = customers.update_many(
            session,
            SYSTEM,
            [
                (two.id, CustomerUpdate(city="Oslo", country="NO")),
                (three.id, CustomerUpdate(name=three.name)),  # no change
                (four.id, CustomerUpdate(external_id="u1", city="Bergen")),  # u1 is taken
            ],
        )
        assert results[:2] == [two, three]
        assert isinstance(results[2], ValidationFailed)
        assert (two.version, three.version, four.version) == (2, 1, 1)
        assert (four.city, four.external_id) == (None, "u4")  # left as it was
        single_event = events_of(session, one.id)[-1]
        (event,) = events_of(session, two.id)[1:]
        assert shape(event) == shape(single_event)
        assert (event.type, event.changed) == ("customer.updated", ["city", "country"])
        assert events_of(session, three.id)[1:] == events_of(session, four.id)[1:] == []
        single_entry = entries_of(session, one.id)[-1]
        entry = entries_of(session, two.id)[-1]
        assert (entry.action, entry.changes) == ("update", single_entry.changes)
        assert entry.changes == {
            "city": {"before": None, "after": "[masked]"},
            "country": {"before": "DE", "after": "NO"},
        }
        assert len(entries_of(session, three.id)) == len(entries_of(session, four.id)) == 1
        assert audit.verify(session).intact


def _user(session: Session, role: Role, team: uuid.UUID | None) -> Principal:
    user = security.create_user(
        session,
        SYSTEM,
        UserCreate(email=f"{uuid.uuid4().hex[:8]}@example.com", role=role, team_id=team),
    )
    return security.principal_for(user)


def test_batches_keep_permissions_scope_and_versions(db: Database) -> None:
    with db.unit_of_work() as session:
        north = security.teams.create(session, SYSTEM, TeamCreate(name="North")).id
        south = security.teams.create(session, SYSTEM, TeamCreate(name="South")).id
        rep = _user(session, Role.SALES, north)
        reader = _user(session, Role.READONLY, north)
        (mine,) = customers.create_many(session, rep, [person("r1")])
        assert isinstance(mine, Customer)
        assert (mine.owner_id, mine.team_id) == (rep.user_id, north)  # the rep's defaults
        theirs = customers.create(session, SYSTEM, person("t1", team_id=south))
        with pytest.raises(PermissionDenied):
            customers.create_many(session, reader, [person("x1")])
        with pytest.raises(PermissionDenied):
            customers.create_many(session, rep, [person("x2", team_id=south)])
        with pytest.raises(NotFound):
            customers.update_many(
                session,
                rep,
                [(mine.id, CustomerUpdate(city="Oslo")), (theirs.id, CustomerUpdate(city="Oslo"))],
            )
        with pytest.raises(VersionConflict):
            customers.update_many(session, rep, [(mine.id, CustomerUpdate(city="A", version=7))])
        assert session.scalar(select(Customer).where(Customer.external_id == "x1")) is None


def test_create_many_orders_checks_each_order_alone(db: Database) -> None:
    with db.unit_of_work() as session:
        north = security.teams.create(session, SYSTEM, TeamCreate(name="North")).id
        rep = _user(session, Role.SALES, north)
        mine = customers.create(session, rep, person("m1"))
        other = customers.create(session, SYSTEM, person("o1"))
        apple = products.create(
            session, SYSTEM, ProductCreate(sku="A1", name="Apple", price_minor=150, currency="EUR")
        )

        def order(customer: Customer, number: str, product: uuid.UUID = apple.id) -> OrderCreate:
            return OrderCreate(
                customer_id=customer.id, number=number, currency="EUR",
                lines=[{"product_id": product, "quantity": 2}],
            )  # fmt: skip

        results = orders.create_many(
            session,
            rep,
            [
                order(mine, "N1"),
                order(other, "N2"),  # outside the rep's scope
                order(mine, "N3", uuid.uuid4()),  # no such product
                order(mine, "N1"),  # the number of the first
                order(mine, "N4"),
            ],
        )
        fields = [
            result.extra["errors"][0]["field"] if isinstance(result, ValidationFailed) else None
            for result in results
        ]
        assert fields == [None, "customer_id", "lines.0.product_id", "number", None]
        made = [result for result in results if not isinstance(result, ValidationFailed)]
        assert [(o.number, o.total_minor, len(o.lines)) for o in made] == [
            ("N1", 300, 1), ("N4", 300, 1),
        ]  # fmt: skip
        for made_order in made:
            (event,) = events_of(session, made_order.id)
            assert event.type == "order.created"
            assert event.data["total_minor"] == 300
            assert event.data["lines"][0]["product_id"] == str(apple.id)
        assert audit.verify(session).intact
