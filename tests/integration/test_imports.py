"""Imports through the CLI: report and exit codes, dry run, rerun, revert, formats, references."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from patron.cli.main import app as cli
from patron.customers.models import Customer
from patron.db.engine import Database
from patron.events.models import Event
from patron.integration.imports_models import ImportRecord, ImportRun
from patron.sales.models import Order, Product
from tests.datasets import dataset_path

CUSTOMERS_CSV = (
    "id,name,email,phone,country\n"
    "c1,  ALICE   SMITH ,Alice@Example.com,(212) 555-0100,us\n"
    "c2,bob jones,not-an-email,,US\n"
    "c3,Carol Meyer,carol@example.com,+49 30 1234567,DE\n"
)


@pytest.fixture
def env(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATRON_DATABASE_URL", db.url)
    monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PATRON_IMPORT_DEFAULT_REGION", "US")
    return tmp_path


def run_import(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["import", *args, "--json"])
    assert result.exit_code in (0, 65), result.output
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def count(db: Database, model: Any) -> int:
    with db.unit_of_work(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def customers(db: Database) -> list[dict[str, Any]]:
    with db.unit_of_work(write=False) as session:
        rows = session.scalars(select(Customer).order_by(Customer.external_id))
        return [
            {
                c: getattr(row, c)
                for c in (
                    "external_id",
                    "name",
                    "email",
                    "phone",
                    "phone_raw",
                    "country",
                    "custom_fields",
                    "version",
                )
            }
            for row in rows
        ]


def write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def test_import_cleans_reports_and_rejects(env: Path, db: Database) -> None:
    source = write(env / "customers.csv", CUSTOMERS_CSV)
    code, report = run_import("customers", str(source))
    assert code == 65
    assert {k: report[k] for k in ("created", "updated", "unchanged", "rejected")} == {
        "created": 2, "updated": 0, "unchanged": 0, "rejected": 1,
    }  # fmt: skip
    stored = customers(db)
    assert stored[0]["name"] == "Alice Smith"
    assert stored[0]["email"] == "alice@example.com"
    assert stored[0]["phone"] == "+12125550100"
    assert stored[0]["phone_raw"] == "(212) 555-0100"
    assert stored[0]["custom_fields"] == {}
    assert stored[1]["phone"] == "+49301234567"
    assert stored[1]["country"] == "DE"
    with Path(report["error_file"]).open(encoding="utf-8", newline="") as stream:
        errors = list(csv.DictReader(stream))
    assert len(errors) == 1
    assert errors[0]["row"] == "2"
    assert errors[0]["column"] == "email"
    assert errors[0]["email"] == "not-an-email"
    assert errors[0]["name"] == "bob jones"
    assert "valid email" in errors[0]["reason"]
    with db.unit_of_work(write=False) as session:
        run = session.get_one(ImportRun, __import__("uuid").UUID(report["import_id"]))
        assert run.status == "succeeded"
        assert run.rows_done == 3
        assert run.total_rows == 3
        links = session.scalars(select(ImportRecord).where(ImportRecord.import_id == run.id))
        assert sorted(link.action for link in links) == ["created", "created"]
        created_events = session.scalar(
            select(func.count()).select_from(Event).where(Event.type == "customer.created")
        )
        assert created_events == 2


def test_clean_file_exits_zero_and_rerun_changes_nothing(env: Path, db: Database) -> None:
    source = write(env / "ok.csv", "id,name,email\n1,Ann,ann@example.com\n2,Ben,ben@example.com\n")
    code, first = run_import("customers", str(source))
    assert code == 0
    assert first["created"] == 2
    assert first["error_file"] is None
    before, events = customers(db), count(db, Event)
    code, second = run_import("customers", str(source))
    assert code == 0
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 2)
    assert customers(db) == before
    assert count(db, Event) == events


def test_dry_run_writes_nothing(env: Path, db: Database) -> None:
    source = write(env / "customers.csv", CUSTOMERS_CSV)
    code, report = run_import("customers", str(source), "--dry-run")
    assert code == 65
    assert (report["created"], report["rejected"]) == (2, 1)
    assert count(db, Customer) == 0
    assert count(db, Event) == 0
    assert count(db, ImportRecord) == 0


def test_update_then_revert_restores(env: Path, db: Database) -> None:
    first = write(env / "a.csv", "id,name,email,city\n1,Ann,ann@example.com,Paris\n")
    run_import("customers", str(first))
    before = customers(db)
    second = write(
        env / "b.csv",
        "id,name,email,city\n1,Ann Other,ann@example.com,Lyon\n2,New,new@example.com,Nice\n",
    )
    _code, report = run_import("customers", str(second))
    assert (report["created"], report["updated"]) == (1, 1)
    assert {c["name"] for c in customers(db)} == {"Ann Other", "New"}

    result = CliRunner().invoke(cli, ["import", "revert", report["import_id"], "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "import_id": report["import_id"], "deleted": 1, "restored": 1, "missing": 0,
    }  # fmt: skip
    after = customers(db)
    assert [{k: v for k, v in c.items() if k != "version"} for c in after] == [
        {k: v for k, v in c.items() if k != "version"} for c in before
    ]
    again = CliRunner().invoke(cli, ["import", "revert", report["import_id"]])
    assert again.exit_code == 1
    assert "reverted already" in again.output


def test_on_duplicate_skip_and_error(env: Path, db: Database) -> None:
    run_import("customers", str(write(env / "a.csv", "id,name\n1,Ann\n")))
    changed = write(env / "b.csv", "id,name\n1,Anna\n")
    code, skipped = run_import("customers", str(changed), "--on-duplicate", "skip")
    assert code == 0
    assert skipped["unchanged"] == 1
    assert customers(db)[0]["name"] == "Ann"
    code, refused = run_import("customers", str(changed), "--on-duplicate", "error")
    assert code == 65
    assert refused["rejected"] == 1
    assert customers(db)[0]["name"] == "Ann"


def test_email_matches_when_no_external_id(env: Path, db: Database) -> None:
    run_import("customers", str(write(env / "a.csv", "name,email\nAnn,ANN@example.com\n")))
    _code, report = run_import(
        "customers", str(write(env / "b.csv", "name,email,city\nAnn,ann@example.com,Oslo\n"))
    )
    assert (report["created"], report["updated"]) == (0, 1)
    assert count(db, Customer) == 1


@pytest.mark.parametrize("fmt", ["xlsx", "json", "jsonl", "parquet"])
def test_every_format(env: Path, db: Database, fmt: str) -> None:
    rows = [
        {"id": "x1", "name": "Ann", "email": "ann@example.com", "country": "fr"},
        {"id": "x2", "name": "Ben", "email": "ben@example.com", "country": "de"},
    ]
    path = env / f"people.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif fmt == "jsonl":
        path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        from openpyxl import Workbook

        workbook = Workbook()
        sheet = workbook.active
        sheet.append(list(rows[0]))
        for row in rows:
            sheet.append(list(row.values()))
        workbook.save(path)
    code, report = run_import("customers", str(path))
    assert code == 0
    assert report["created"] == 2
    assert [(c["external_id"], c["country"]) for c in customers(db)] == [("x1", "FR"), ("x2", "DE")]


def test_csv_encoding_and_delimiter_are_detected(env: Path, db: Database) -> None:
    path = env / "latin.csv"
    path.write_bytes("id;name;city\n1;Jürgen Müller;Köln\n2;Zoë;Besançon\n".encode("cp1252"))
    code, report = run_import("customers", str(path))
    assert code == 0
    assert report["created"] == 2
    assert [c["name"] for c in customers(db)] == ["Jürgen Müller", "Zoë"]


def test_orders_resolve_customers_and_products(env: Path, db: Database) -> None:
    run_import("customers", str(write(env / "c.csv", "id,name,email\nc1,Ann,ann@example.com\n")))
    run_import(
        "products", str(write(env / "p.csv", "sku,name,price,currency\nA1,Apple,1.50,EUR\n"))
    )
    orders = write(
        env / "o.csv",
        "order_id,customer_email,sku,quantity,unit_price,currency,ordered_at\n"
        "o1,ann@example.com,A1,2,,EUR,2024-03-01\n"
        'o2,new@example.com,B2,1,"3,20",EUR,01.04.2024\n'
        "o3,,A1,1,,EUR,2024-03-02\n",
    )
    code, report = run_import("orders", str(orders))
    assert code == 65
    assert report["created"] == 1
    assert report["rejected"] == 2
    code, report = run_import("orders", str(orders), "--create-missing")
    assert report["created"] == 1
    assert report["unchanged"] == 1
    assert report["rejected"] == 1
    with db.unit_of_work(write=False) as session:
        made = {o.external_id: o for o in session.scalars(select(Order))}
        assert made["o1"].total_minor == 300
        assert made["o1"].currency == "EUR"
        assert made["o2"].total_minor == 320
        assert made["o2"].ordered_at.date().isoformat() == "2024-04-01"
        assert session.scalar(select(Product.name).where(Product.sku == "B2")) == "B2"
    assert count(db, Customer) == 2
    revert = CliRunner().invoke(cli, ["import", "revert", report["import_id"]])
    assert revert.exit_code == 0, revert.output
    assert count(db, Customer) == 1
    assert count(db, Order) == 1
    assert count(db, Product) == 1


def test_febrl_export_with_a_mapping(env: Path, db: Database) -> None:
    """A real CSV export of another system (FEBRL), brought in with a mapping file."""
    source = dataset_path("febrl", "dataset1.csv")
    mapping = write(
        env / "febrl.yaml",
        "fields:\n"
        "  external_id: rec_id\n"
        "  name: [given_name, surname]\n"
        "  address_line1: [street_number, address_1]\n"
        "  address_line2: address_2\n"
        "  city: suburb\n"
        "  postal_code: postcode\n"
        "  region: state\n"
        "  custom_fields.date_of_birth: date_of_birth\n"
        "  custom_fields.soc_sec_id: soc_sec_id\n"
        "defaults:\n"
        "  country: AU\n"
        "  source: febrl\n",
    )
    with source.open(encoding="utf-8") as stream:
        rows = sum(1 for _ in stream) - 1
    dry = CliRunner().invoke(
        cli, ["import", "customers", str(source), "--mapping", str(mapping), "--dry-run", "--json"]
    )
    dry_report = json.loads(dry.stdout)
    assert count(db, Customer) == 0
    _, report = run_import("customers", str(source), "--mapping", str(mapping))
    assert report["created"] + report["rejected"] == rows
    assert report["created"] == dry_report["created"]
    assert report["created"] > 0.95 * rows
    assert count(db, Customer) == report["created"]
    with db.unit_of_work(write=False) as session:
        sample = session.scalar(select(Customer).where(Customer.external_id == "rec-122-org"))
        assert sample is not None
        assert sample.name == "Lachlan Berry"
        assert sample.city == "bittern"
        assert sample.region == "qld"
        assert sample.country == "AU"
        assert sample.custom_fields["date_of_birth"] == "19990219"
    _code, again = run_import("customers", str(source), "--mapping", str(mapping))
    assert again["created"] == 0
    assert again["updated"] == 0
