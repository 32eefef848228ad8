"""Imports written in batches: what a row-by-row import did, record for record.

Each batch goes through ``create_many`` / ``update_many``; these tests pin what must not change
with that: a key seen twice (in one batch or across a boundary), the events and audit entries of
every record, the links ``revert`` undoes, a refused row that had created its customer, and a dry
run that reports what the real run will.
"""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from patron.customers.models import Customer
from patron.customers.schemas import CustomerCreate
from patron.customers.service import customers
from patron.db.engine import Database
from patron.events.models import Event
from patron.integration import imports
from patron.integration.imports_models import ImportRecord, ImportRun
from patron.integration.imports_read import Limits
from patron.sales.models import Order, Product
from patron.security import audit
from patron.security.audit_models import AuditEntry
from patron.security.permissions import Principal

COUNTS = ("created", "updated", "unchanged", "rejected")


def run(
    db: Database, tmp_path: Path, entity: str, content: str, batch_size: int, **options: Any
) -> dict[str, Any]:
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    path.write_text(content, encoding="utf-8")
    with db.unit_of_work() as session:
        created = imports.create_import(
            session, Principal.system(), entity=entity, path=path, limits=Limits(), **options
        )
        import_id = created.id
    done = imports.run_import(
        db, import_id, limits=Limits(), data_dir=tmp_path / "data", batch_size=batch_size
    )
    assert done.status == "succeeded", done.error
    return {"import_id": import_id, **{key: getattr(done, key) for key in COUNTS}}


def count(db: Database, model: Any, *where: Any) -> int:
    with db.unit_of_work(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def state(db: Database) -> list[tuple[Any, ...]]:
    with db.unit_of_work(write=False) as session:
        rows = session.execute(
            select(Customer.external_id, Customer.name, Customer.email, Customer.version)
            .order_by(Customer.external_id, Customer.email)
        )  # fmt: skip
        return [tuple(row) for row in rows]


# Batches of three. The keys come back across the boundaries and inside a batch:
#   batch 1: e1 new; e0 (already there) renamed; e2 new
#   batch 2: e1 again, same (unchanged); e0 again, same (unchanged); e2's email without an id,
#            renamed (updated)
#   batch 3: e1 renamed (updated); e3 new; e3 again in the same batch (unchanged); a bad email
STRADDLING = (
    "id,name,email\n"
    "e1,Ann,ann@example.com\n"
    "e0,Olga New,olga@example.com\n"
    "e2,Ben,ben@example.com\n"
    "e1,Ann,ann@example.com\n"
    "e0,Olga New,olga@example.com\n"
    ",Benjamin,BEN@example.com\n"
    "e1,Ann Smith,ann@example.com\n"
    "e3,Dan,dan@example.com\n"
    "e3,Dan,dan@example.com\n"
    "e4,Eve,not-an-email\n"
)
STRADDLING_COUNTS = {"created": 3, "updated": 3, "unchanged": 3, "rejected": 1}


def seed_olga(db: Database) -> None:
    with db.unit_of_work() as session:
        data = CustomerCreate(name="Olga", email="olga@example.com", external_id="e0")
        customers.create(session, Principal.system(), data)


def test_dry_run_counts_keys_across_batches_as_the_real_run_does(
    db: Database, tmp_path: Path
) -> None:
    seed_olga(db)
    before, events = state(db), count(db, Event)
    dry = run(db, tmp_path, "customers", STRADDLING, batch_size=3, dry_run=True)
    assert {key: dry[key] for key in COUNTS} == STRADDLING_COUNTS
    assert state(db) == before
    assert count(db, Event) == events
    assert count(db, ImportRecord) == 0

    real = run(db, tmp_path, "customers", STRADDLING, batch_size=3)
    assert {key: real[key] for key in COUNTS} == STRADDLING_COUNTS
    assert state(db) == [
        ("e0", "Olga New", "olga@example.com", 2),
        ("e1", "Ann Smith", "ann@example.com", 2),
        ("e2", "Benjamin", "ben@example.com", 2),
        ("e3", "Dan", "dan@example.com", 1),
    ]


def test_dry_run_of_orders_remembers_the_customers_and_products_it_made(
    db: Database, tmp_path: Path
) -> None:
    content = (
        "order_id,customer_id,customer_name,sku,quantity,unit_price,currency\n"
        "o1,c1,Cora,P1,2,1.50,EUR\n"
        "o2,c1,Cora,P1,1,,EUR\n"
        "o1,c1,Cora,P1,2,1.50,EUR\n"  # batch 2: o1 again, as it was: unchanged
        "o3,c1,Cora,P1,3,,EUR\n"
    )
    dry = run(db, tmp_path, "orders", content, batch_size=2, dry_run=True, create_missing=True)
    assert (count(db, Customer), count(db, Order), count(db, Product)) == (0, 0, 0)
    real = run(db, tmp_path, "orders", content, batch_size=2, create_missing=True)
    expected = {"created": 3, "updated": 0, "unchanged": 1, "rejected": 0}
    assert {key: real[key] for key in COUNTS} == expected
    assert {key: dry[key] for key in COUNTS} == expected
    assert (count(db, Customer), count(db, Order), count(db, Product)) == (1, 3, 1)


def test_a_key_twice_in_one_batch_is_created_then_updated(db: Database, tmp_path: Path) -> None:
    content = "id,name,email\nk1,Kim,kim@example.com\nk1,Kim Lee,kim@example.com\n"
    report = run(db, tmp_path, "customers", content, batch_size=1_000)
    assert {key: report[key] for key in COUNTS} == {
        "created": 1, "updated": 1, "unchanged": 0, "rejected": 0,
    }  # fmt: skip
    assert state(db) == [("k1", "Kim Lee", "kim@example.com", 2)]
    with db.unit_of_work(write=False) as session:
        kinds = session.scalars(select(Event.type).order_by(Event.position)).all()
        links = session.scalars(select(ImportRecord).order_by(ImportRecord.id)).all()
        assert kinds == ["customer.created", "customer.updated"]
        assert [(link.action, link.row_number, link.previous) for link in links] == [
            ("created", 1, None),
            ("updated", 2, {"name": "Kim"}),
        ]
    with db.unit_of_work() as session:
        counts = imports.revert(session, Principal.system(), report["import_id"])
    assert counts == {"deleted": 1, "restored": 1, "missing": 0}
    assert state(db) == []


def test_every_record_has_its_event_and_audit_entry(db: Database, tmp_path: Path) -> None:
    rows = "".join(f"x{index},Person {index},p{index}@example.com\n" for index in range(7))
    run(db, tmp_path, "customers", "id,name,email\n" + rows, batch_size=3)
    changed = "".join(
        f"x{index},Person {index}{' Jr' if index % 2 else ''},p{index}@example.com\n"
        for index in range(7)
    )
    second = run(db, tmp_path, "customers", "id,name,email\n" + changed, batch_size=3)
    assert (second["updated"], second["unchanged"]) == (3, 4)
    with db.unit_of_work(write=False) as session:
        by_id = {c.id: c for c in session.scalars(select(Customer))}
        events = session.scalars(select(Event).order_by(Event.position)).all()
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "customer").order_by(AuditEntry.id)
        ).all()
        assert audit.verify(session).intact
    created = [e for e in events if e.type == "customer.created"]
    updated = [e for e in events if e.type == "customer.updated"]
    assert sorted(e.entity_id for e in created) == sorted(by_id)
    for event in created:
        assert event.data["external_id"] == by_id[event.entity_id].external_id
        assert event.data["email"] == by_id[event.entity_id].email
        assert set(event.changed) >= {"name", "email", "external_id"}
    assert sorted(by_id[e.entity_id].external_id for e in updated) == ["x1", "x3", "x5"]
    assert all(e.changed == ["name"] and e.data["name"].endswith(" Jr") for e in updated)
    assert [(e.action, e.entity_id) for e in entries] == [
        *(("create", e.entity_id) for e in created),
        *(("update", e.entity_id) for e in updated),
    ]
    assert entries[-1].changes == {"name": {"before": "[masked]", "after": "[masked]"}}


def test_a_refused_row_takes_the_customer_it_created_with_it(db: Database, tmp_path: Path) -> None:
    run(db, tmp_path, "products", "sku,name,price,currency\nA1,Apple,1.50,EUR\n", batch_size=10)
    content = (
        "order_id,customer_id,customer_name,sku,quantity,currency\n"
        "o1,c9,Cleo,A1,1,USD\n"  # priced in EUR, ordered in USD without a price: refused
        "o2,c9,Cleo,A1,1,EUR\n"
    )
    report = run(db, tmp_path, "orders", content, batch_size=10, create_missing=True)
    assert {key: report[key] for key in COUNTS} == {
        "created": 1, "updated": 0, "unchanged": 0, "rejected": 1,
    }  # fmt: skip
    with db.unit_of_work(write=False) as session:
        cleo = session.scalars(select(Customer)).one()
        order = session.scalars(select(Order)).one()
        assert (cleo.external_id, order.external_id, order.customer_id) == ("c9", "o2", cleo.id)
        created = session.scalars(select(Event.type).where(Event.type == "customer.created"))
        assert len(created.all()) == 1
        links = session.scalars(
            select(ImportRecord.entity).where(ImportRecord.import_id == report["import_id"])
        ).all()
        assert sorted(links) == ["customers", "orders"]


@pytest.mark.parametrize("dry_run", [False, True])
def test_interrupted_dry_run_starts_over(db: Database, tmp_path: Path, dry_run: bool) -> None:
    """A dry run remembers its batches in its process only, so resuming one reads the file again
    from the start; a real run resumes at its cursor."""
    path = tmp_path / "people.csv"
    path.write_text(STRADDLING, encoding="utf-8")
    seed_olga(db)
    with db.unit_of_work() as session:
        started = imports.create_import(
            session, Principal.system(), entity="customers", path=path, limits=Limits(),
            dry_run=dry_run,
        )  # fmt: skip
        # As a run killed after its first batch leaves it:
        started.status, started.rows_done, started.total_rows = "running", 3, 10
        started.created, started.updated = 2, 1
        import_id = started.id
    done = imports.run_import(
        db, import_id, limits=Limits(), data_dir=tmp_path / "data", batch_size=3
    )
    counts = {key: getattr(done, key) for key in COUNTS}
    if dry_run:
        assert counts == STRADDLING_COUNTS
    else:  # the first batch never ran here, so rows 4 and 5 create e1 and update e0
        assert counts == {"created": 5, "updated": 3, "unchanged": 1, "rejected": 1}
    with db.unit_of_work(write=False) as session:
        assert session.get_one(ImportRun, import_id).rows_done == 10


@pytest.mark.parametrize(
    ("entity", "content", "event"),
    [
        (
            "tickets",
            "id,customer_id,subject,priority,opened_at\n"
            "t1,c1,Broken lid,high,2024-03-01\n"
            "t2,nobody,Lost parcel,normal,2024-03-02\n"
            "t3,c2,Late,low,2024-03-03\n",
            "ticket.created",
        ),
        (
            "activities",
            "id,customer_id,type,subject,occurred_at\n"
            "a1,c1,call,Intro call,2024-03-01\n"
            "a2,nobody,email,Follow-up,2024-03-02\n"
            "a3,c2,meeting,Demo,2024-03-03\n",
            "activity.created",
        ),
        (
            "deals",
            "id,customer_id,title,amount,currency,stage\n"
            "d1,c1,Big one,1200.50,EUR,Won\n"
            "d2,nobody,Lost cause,10,EUR,Lead\n"
            "d3,c2,Small one,99,EUR,\n",
            "deal.created",
        ),
    ],
)
def test_records_of_customers_are_written_in_batches(
    db: Database, tmp_path: Path, entity: str, content: str, event: str
) -> None:
    from patron.sales.schemas import PipelineStageCreate
    from patron.sales.service import pipeline_stages

    with db.unit_of_work() as session:
        for external_id in ("c1", "c2"):
            data = CustomerCreate(name=f"Customer {external_id}", external_id=external_id)
            customers.create(session, Principal.system(), data)
        for position, (name, won) in enumerate((("Lead", False), ("Won", True))):
            stage = PipelineStageCreate(name=name, position=position, probability=50, is_won=won)
            pipeline_stages.create(session, Principal.system(), stage)
    first = run(db, tmp_path, entity, content, batch_size=2)
    assert {key: first[key] for key in COUNTS} == {
        "created": 2, "updated": 0, "unchanged": 0, "rejected": 1,
    }  # fmt: skip
    again = run(db, tmp_path, entity, content, batch_size=2)
    assert {key: again[key] for key in COUNTS} == {
        "created": 0, "updated": 0, "unchanged": 2, "rejected": 1,
    }  # fmt: skip
    with db.unit_of_work(write=False) as session:
        by_customer = {c.id: c.external_id for c in session.scalars(select(Customer))}
        made = session.scalars(select(Event).where(Event.type == event)).all()
        assert sorted(by_customer[uuid.UUID(e.data["customer_id"])] for e in made) == ["c1", "c2"]
        if entity == "deals":
            won = {e.data["external_id"]: e.data for e in made}["d1"]
            assert (won["amount_minor"], won["probability"]) == (120050, 50)
            assert won["closed_at"] is not None
        assert audit.verify(session).intact


def errors_of(db: Database, import_id: Any) -> list[tuple[str, str, str]]:
    with db.unit_of_work(write=False) as session:
        error_file = session.get_one(ImportRun, import_id).error_file
    if error_file is None:
        return []
    with Path(error_file).open(encoding="utf-8", newline="") as stream:
        return [(row["row"], row["column"], row["reason"]) for row in csv.DictReader(stream)]


@pytest.mark.parametrize("batch_size", [1_000, 2])
def test_a_sku_named_twice_or_already_there_is_the_same_product(
    db: Database, tmp_path: Path, batch_size: int
) -> None:
    """The sku is what a products import finds a product by (products have no external id; an
    ``external_id`` column is not theirs and is left out), so a sku seen again — in the file, or
    in the database — updates that product: nothing reaches the sku's unique constraint."""
    run(db, tmp_path, "products", "sku,name,price,currency\nS1,Apple,1.50,EUR\n", batch_size=10)
    content = (
        "external_id,sku,name,price,currency\n"
        "x1,S2,Pear,1.00,EUR\n"
        "x2,S2,Pear two,1.00,EUR\n"  # the same sku under another external id
        ",S2,Pear three,1.00,EUR\n"  # and without one
        "x9,S1,Apple again,1.50,EUR\n"  # an existing product's sku under a new external id
        "x3,S3,Quince,2.00,EUR\n"
    )
    report = run(db, tmp_path, "products", content, batch_size=batch_size)
    assert {key: report[key] for key in COUNTS} == {
        "created": 2, "updated": 3, "unchanged": 0, "rejected": 0,
    }  # fmt: skip
    assert errors_of(db, report["import_id"]) == []
    with db.unit_of_work(write=False) as session:
        stored = session.execute(select(Product.sku, Product.name, Product.version))
        assert sorted(tuple(row) for row in stored) == [
            ("S1", "Apple again", 2), ("S2", "Pear three", 3), ("S3", "Quince", 1),
        ]  # fmt: skip


@pytest.mark.parametrize("batch_size", [1_000, 2])
def test_an_order_number_of_another_order_goes_to_the_error_file(
    db: Database, tmp_path: Path, batch_size: int
) -> None:
    """A row naming the number of an order it is not (another external id) is refused with its
    reason; the rest of its batch is written."""
    run(db, tmp_path, "products", "sku,name,price,currency\nA1,Apple,1.50,EUR\n", batch_size=10)
    with db.unit_of_work() as session:
        customers.create(session, Principal.system(), CustomerCreate(name="Cora", external_id="c1"))
    header = "order_id,number,customer_id,sku,quantity,currency\n"
    run(db, tmp_path, "orders", header + "o1,N1,c1,A1,1,EUR\n", batch_size=10)
    content = header + (
        "o2,N2,c1,A1,1,EUR\n"
        "o3,N1,c1,A1,2,EUR\n"  # o1's number
        "o4,N2,c1,A1,1,EUR\n"  # o2's number, from this file
        "o1,N1,c1,A1,1,EUR\n"  # o1 itself: its own number
        "o5,N5,c1,A1,1,EUR\n"
    )
    report = run(db, tmp_path, "orders", content, batch_size=batch_size)
    assert {key: report[key] for key in COUNTS} == {
        "created": 2, "updated": 0, "unchanged": 1, "rejected": 2,
    }  # fmt: skip
    refused = ("number", "An order with this number exists.")
    assert errors_of(db, report["import_id"]) == [("2", *refused), ("3", *refused)]
    with db.unit_of_work(write=False) as session:
        stored = session.execute(select(Order.external_id, Order.number))
        assert sorted(tuple(row) for row in stored) == [("o1", "N1"), ("o2", "N2"), ("o5", "N5")]
