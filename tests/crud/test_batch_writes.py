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
from patron.sales.models import Product
from patron.sales.schemas import OrderCreate, ProductCreate, ProductUpdate
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


def _product(sku: str) -> ProductCreate:
    return ProductCreate(sku=sku, name=f"Product {sku}", price_minor=100, currency="EUR")


def _refusal(result: object) -> tuple[str, str, str] | None:
    if not isinstance(result, ValidationFailed):
        return None
    error = result.extra["errors"][0]
    return error["field"], error["message"], error["code"]


def test_create_many_refuses_a_unique_value_taken_before_or_earlier_in_the_batch(
    db: Database,
) -> None:
    with db.unit_of_work() as session:
        products.create(session, SYSTEM, _product("S1"))
        with pytest.raises(ValidationFailed) as single:
            products.create(session, SYSTEM, _product("S1"))
        results = products.create_many(
            session,
            SYSTEM,
            [_product("S1"), _product("S2"), _product("S2"), _product("S3"), _product("s1")],
        )
        duplicate = _refusal(single.value)
        assert duplicate == ("sku", "Another product already has this sku.", "duplicate")
        assert [_refusal(result) for result in results] == [
            duplicate, None, duplicate, None, None,
        ]  # fmt: skip
        made = [result for result in results if isinstance(result, Product)]
        assert [product.sku for product in made] == ["S2", "S3", "s1"]
        for product in made:
            (event,) = events_of(session, product.id)
            assert event.type == "product.created"
    with db.unit_of_work(write=False) as session:
        skus = session.scalars(select(Product.sku).order_by(Product.sku)).all()
        assert sorted(skus) == sorted(["S1", "S2", "S3", "s1"])


def test_create_many_reports_one_refusal_per_order(db: Database) -> None:
    """An order whose number and external id are both taken is refused once, for its number
    (the order rules come first, as in ``create``)."""
    with db.unit_of_work() as session:
        customer = customers.create(session, SYSTEM, person("c1"))
        apple = products.create(session, SYSTEM, _product("A1"))

        def order(number: str, external_id: str) -> OrderCreate:
            return OrderCreate(
                customer_id=customer.id, number=number, currency="EUR", external_id=external_id,
                lines=[{"product_id": apple.id, "quantity": 1}],
            )  # fmt: skip

        orders.create(session, SYSTEM, order("N1", "o1"))
        results = orders.create_many(
            session,
            SYSTEM,
            [order("N1", "o1"), order("N2", "o1"), order("N3", "o3"), order("N4", "o3")],
        )
        assert [_refusal(result) for result in results] == [
            ("number", "An order with this number exists.", "duplicate"),
            ("external_id", "Another order already has this external id.", "duplicate"),
            None,
            ("external_id", "Another order already has this external id.", "duplicate"),
        ]


def test_update_many_checks_unique_values_as_update_does_row_by_row(db: Database) -> None:
    with db.unit_of_work() as session:
        made = {sku: products.create(session, SYSTEM, _product(sku)) for sku in "abcdefg"}
        ids = {sku: product.id for sku, product in made.items()}
        session.flush()
        results = products.update_many(
            session,
            SYSTEM,
            [
                (ids["a"], ProductUpdate(sku="a", name="Kept its own sku")),
                (ids["d"], ProductUpdate(sku="e")),  # e's, which e gives up only later
                (ids["e"], ProductUpdate(sku="x")),
                (ids["c"], ProductUpdate(sku="e")),  # free now: e gave it up above
                (ids["b"], ProductUpdate(sku="a")),  # a kept it
                (ids["f"], ProductUpdate(sku="y")),
                (ids["g"], ProductUpdate(sku="y")),  # f took it in this batch
            ],
        )
        duplicate = ("sku", "Another product already has this sku.", "duplicate")
        assert [_refusal(result) for result in results] == [
            None, duplicate, None, None, duplicate, None, duplicate,
        ]  # fmt: skip
    with db.unit_of_work(write=False) as session:
        now = {row.id: (row.sku, row.version) for row in session.scalars(select(Product))}
        assert {sku: now[ids[sku]] for sku in "abcdefg"} == {
            "a": ("a", 2), "b": ("b", 1), "c": ("e", 2), "d": ("d", 1), "e": ("x", 2),
            "f": ("y", 2), "g": ("g", 1),
        }  # fmt: skip


def test_update_many_writes_a_customer_after_the_one_that_let_its_external_id_go(
    db: Database,
) -> None:
    """Customers check their external ids themselves (``CustomerChecks``); the batch still
    writes the change that frees an external id before the one that takes it."""
    with db.unit_of_work() as session:
        taker, first, second = (
            customers.create(session, SYSTEM, person(k)) for k in ("k0", "k1", "k2")
        )
        session.flush()
        results = customers.update_many(
            session,
            SYSTEM,
            [
                (first.id, CustomerUpdate(external_id="k2")),  # k2's, not given up yet
                (second.id, CustomerUpdate(external_id="k3")),
                (taker.id, CustomerUpdate(external_id="k2")),  # free now
            ],
        )
        assert [_refusal(result) for result in results] == [
            ("external_id", "Another customer already has this external id.", "duplicate"),
            None,
            None,
        ]
        ids = [taker.id, first.id, second.id]
    with db.unit_of_work(write=False) as session:
        held = {row.id: row.external_id for row in session.scalars(select(Customer))}
        assert [held[record_id] for record_id in ids] == ["k2", "k1", "k3"]
