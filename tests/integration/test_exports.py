"""Exports through the API and the CLI: four formats round trip, formula injection, scope."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from patron.cli.main import app as cli
from patron.db import migrate
from patron.db.engine import Database
from patron.integration import exports
from patron.security.permissions import Principal
from tests.conftest import Caller, Callers
from tests.factories import make_customer, make_order, make_product

URL = "/api/v1/exports/"
FORMULAS = ["=1+2", "+49 30 1234", "-2+3", "@SUM(A1)"]  # the API strips leading whitespace


def parse(fmt: str, content: bytes) -> list[dict[str, Any]]:
    """Read an export back into rows of strings (CSV, XLSX) or typed values (JSONL, Parquet)."""
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))
    if fmt == "jsonl":
        return [json.loads(line) for line in content.decode("utf-8").splitlines()]
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(content)).to_pylist()
    workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    header = rows[0]
    padding = (None,) * len(header)  # read-only mode drops empty trailing cells
    return [dict(zip(header, (row + padding)[: len(header)], strict=True)) for row in rows[1:]]


def cell(value: Any) -> str:
    """What a JSON value becomes in a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def export(caller: Caller, entity: str, fmt: str = "jsonl", **params: Any) -> Any:
    return caller.get(URL + entity, params={"format": fmt, **params})


# ----- round trip --------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "xlsx"])
def test_customers_round_trip_in_every_format(admin: Caller, fmt: str) -> None:
    made = [
        make_customer(
            admin,
            name=f"Kunde {index}",
            email=f"k{index}@example.com",
            country="DE",
            tags=["vip", "b2b"] if index % 2 else [],
            custom_fields={"size": index, "note": "ä"},
        )
        for index in range(3)
    ]
    response = export(admin, "customers", fmt)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(exports.MEDIA_TYPES[fmt].split(";")[0])
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="customers-')
    assert disposition.endswith(f'.{fmt}"')

    rows = parse(fmt, response.content)
    expected = sorted(made, key=lambda row: row["id"])  # exports run in creation (id) order
    assert [row["id"] for row in rows] == [row["id"] for row in expected]
    columns = list(exports.exportable("customers").read_schema.model_fields)
    assert list(rows[0]) == columns
    for got, want in zip(rows, expected, strict=True):
        if fmt == "jsonl":
            assert got == want
        elif fmt == "parquet":
            assert got["created_at"].isoformat().replace("+00:00", "Z") == want["created_at"]
            assert got["version"] == want["version"] == 1
            assert json.loads(got["tags"]) == want["tags"]
            assert json.loads(got["custom_fields"]) == want["custom_fields"]
            assert got["name"] == want["name"]
            assert got["notes"] is None
        else:
            for name in columns:
                value = got[name]
                if fmt == "xlsx":
                    value = "" if value is None else value
                    if isinstance(want[name], int) and not isinstance(want[name], bool):
                        assert value == want[name], name
                        continue
                if isinstance(want[name], list | dict):  # JSONB may reorder an object's keys
                    assert json.loads(value) == want[name], name
                else:
                    assert value == cell(want[name]), name


def test_empty_export_has_a_header_and_no_rows(admin: Caller) -> None:
    for fmt in ("csv", "parquet", "xlsx"):
        response = export(admin, "customers", fmt)
        assert response.status_code == 200
        assert parse(fmt, response.content) == []
    assert export(admin, "customers", "csv").text.startswith("id,created_at,updated_at,version,")
    assert export(admin, "customers", "jsonl").content == b""
    table = pq.read_table(io.BytesIO(export(admin, "customers", "parquet").content))
    assert str(table.schema.field("created_at").type) == "timestamp[us, tz=UTC]"


def test_orders_keep_their_lines(admin: Caller) -> None:
    customer = make_customer(admin)
    product = make_product(admin)
    order = make_order(admin, customer["id"], product["id"])
    [row] = parse("jsonl", export(admin, "orders").content)
    assert row == order
    [row] = parse("csv", export(admin, "orders", "csv").content)
    assert json.loads(row["lines"]) == order["lines"]
    assert row["total_minor"] == "2500"


# ----- formula injection -------------------------------------------------------------------------
def test_formula_injection_is_neutralised_in_csv_and_xlsx_only(admin: Caller) -> None:
    for text in FORMULAS:
        make_customer(admin, name=f"{text} name"[:200], notes=text)
    safe = {f"'{text}" for text in FORMULAS}
    for fmt in ("csv", "xlsx"):
        rows = parse(fmt, export(admin, "customers", fmt).content)
        assert {row["notes"] for row in rows} == safe, fmt
    rows = parse("jsonl", export(admin, "customers").content)
    assert {row["notes"] for row in rows} == set(FORMULAS)
    rows = parse("parquet", export(admin, "customers", "parquet").content)
    assert {row["notes"] for row in rows} == set(FORMULAS)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_tab_and_carriage_return_starts_are_neutralised(fmt: str) -> None:
    stream = io.BytesIO()
    rows = [{"a": "\tTab", "b": "\rReturn", "c": ["=x"], "d": -5}]
    exports.write(fmt, rows, stream)
    [got] = parse(fmt, stream.getvalue())
    assert got["a"] == "'\tTab"
    # XML turns a stored carriage return into a line feed on reading; the prefix is what counts.
    assert got["b"] in ("'\rReturn", "'\nReturn")
    assert got["c"] == '["=x"]'  # JSON text starts with [ and is safe
    assert got["d"] in ("-5", -5)  # numbers are numbers, not formulas


def test_neutralise_leaves_ordinary_text_alone() -> None:
    assert exports.neutralise("Acme = good") == "Acme = good"
    assert exports.neutralise("") == ""
    assert exports.neutralise("=HYPERLINK()") == "'=HYPERLINK()"


def test_xlsx_replaces_control_characters_and_cuts_long_text() -> None:
    stream = io.BytesIO()
    exports.write_xlsx([{"a": "x\x01y", "b": 5, "c": None, "d": "n" * 40_000}], stream)
    rows = parse("xlsx", stream.getvalue())
    assert rows == [{"a": "x\ufffdy", "b": 5, "c": None, "d": "n" * 32_766 + "…"}]


def test_xlsx_rolls_over_to_a_new_sheet_at_the_row_limit() -> None:
    stream = io.BytesIO()
    exports.write_xlsx(({"n": n} for n in range(5)), stream, title="t", max_rows=3)
    workbook = openpyxl.load_workbook(io.BytesIO(stream.getvalue()), read_only=True)
    sheets = [list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets]
    assert sheets == [[("n",), (0,), (1,)], [("n",), (2,), (3,)], [("n",), (4,)]]


# ----- scope and permissions ---------------------------------------------------------------------
def test_sales_rep_exports_only_their_scope(callers: Callers, admin: Caller) -> None:
    rep_a = callers.make("sales", team="A")
    rep_b = callers.make("sales", team="B")
    mine = make_customer(rep_a, name="Team A customer")
    make_customer(rep_b, name="Team B customer")
    make_customer(admin, name="Nobody's customer")
    for fmt in ("jsonl", "csv"):
        rows = parse(fmt, export(rep_a, "customers", fmt).content)
        assert [row["id"] for row in rows] == [mine["id"]]
    assert len(parse("jsonl", export(callers.make("readonly"), "customers").content)) == 3


def test_role_without_read_gets_403(callers: Callers) -> None:
    support = callers.make("support")
    response = export(support, "sales-targets", "csv")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "permission_denied"
    assert export(support, "customers").status_code == 200


def test_anonymous_gets_401(admin: Caller) -> None:
    assert admin.client.get(URL + "customers").status_code == 401


# ----- filters and errors ------------------------------------------------------------------------
def test_filters_apply(admin: Caller) -> None:
    vip_de = make_customer(admin, country="DE", tags=["vip"])
    make_customer(admin, country="DE")
    make_customer(admin, country="FR", tags=["vip"])
    rows = parse("jsonl", export(admin, "customers", country="DE", tag="vip").content)
    assert [row["id"] for row in rows] == [vip_de["id"]]
    rows = parse("jsonl", export(admin, "customers", sort="-name").content)
    assert [row["name"] for row in rows] == sorted((row["name"] for row in rows), reverse=True)


def test_many_rows_cross_batches(db: Database, admin: Caller) -> None:
    made = {make_customer(admin, name=f"C{index}")["id"] for index in range(7)}
    with db.unit_of_work(write=False) as session:
        rows = list(exports.export_rows(session, Principal.system(), "customers", batch_size=2))
    assert [row["id"] for row in rows] == sorted(made)


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("nothing", {}, 404, "unknown_export"),
        ("customers", {"format": "pdf"}, 422, "validation_failed"),
        ("customers", {"colour": "red"}, 422, "validation_failed"),
        ("customers", {"limit": "5"}, 422, "validation_failed"),
        ("customers", {"sort": "shoe_size"}, 422, "validation_failed"),
        ("customers", {"country": "Germany"}, 422, "validation_failed"),
    ],
)
def test_bad_requests_are_problems(
    admin: Caller, path: str, params: dict[str, str], status: int, code: str
) -> None:
    response = admin.get(URL + path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_every_entity_exports(admin: Caller) -> None:
    for name in exports.exportables():
        response = export(admin, name.replace("_", "-"), "parquet")
        assert response.status_code == 200, name


# ----- CLI ---------------------------------------------------------------------------------------
@pytest.fixture
def cli_db(tmp_path: Path) -> tuple[dict[str, str], Database]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    database = Database(url)
    migrate.upgrade(database.engine)
    env = {"PATRON_DATABASE_URL": url, "PATRON_DATA_DIR": str(tmp_path / "data")}
    return env, database


def seed(database: Database) -> list[dict[str, Any]]:
    from patron.customers.schemas import CustomerCreate
    from patron.customers.service import customers

    made = []
    with database.unit_of_work() as session:
        for name, country, tags in (("=cmd|' /C calc'!A0", "DE", ["vip"]), ("Plain", "FR", [])):
            record = customers.create(
                session,
                Principal.system(),
                CustomerCreate(name=name, country=country, tags=tags),
            )
            made.append({"id": str(record.id), "name": name})
    return made


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, ["export", *args], env=env)


def test_cli_writes_stdout_and_files_in_every_format(
    cli_db: tuple[dict[str, str], Database], tmp_path: Path
) -> None:
    env, database = cli_db
    made = seed(database)
    result = run(env, "customers", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = parse("csv", result.stdout_bytes)
    assert [row["name"] for row in rows] == ["'" + made[0]["name"], "Plain"]

    result = run(env, "customers", "--format", "jsonl", "--filter", "country=DE")
    assert [row["name"] for row in parse("jsonl", result.stdout_bytes)] == [made[0]["name"]]

    for fmt in ("csv", "jsonl", "parquet", "xlsx"):
        target = tmp_path / f"out.{fmt}"
        result = run(env, "customers", "-f", fmt, "--filter", "tag=vip", "--output", str(target))
        assert result.exit_code == 0, result.stderr
        assert result.stdout == ""
        assert "Exported 1 customers" in result.stderr
        assert [row["id"] for row in parse(fmt, target.read_bytes())] == [made[0]["id"]]
        assert not (tmp_path / f"out.{fmt}.partial").exists()

    result = run(env, "customers", "--format", "parquet")
    assert result.exit_code == 0
    assert len(parse("parquet", result.stdout_bytes)) == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["nothing"], 2, "can be exported"),
        (["customers", "--format", "pdf"], 2, "Unknown format"),
        (["customers", "--filter", "colour=red"], 2, "colour"),
        (["customers", "--filter", "country"], 2, "NAME=VALUE"),
        (["customers", "--filter", "limit=3"], 2, "limit"),
        (["customers", "--output", "/nonexistent-dir/x.csv"], 74, "No such file"),
    ],
)
def test_cli_errors_have_exit_codes(
    cli_db: tuple[dict[str, str], Database], args: list[str], code: int, message: str
) -> None:
    env, _ = cli_db
    result = run(env, *args)
    assert result.exit_code == code, result.stderr
    assert message in " ".join(result.stderr.split())


def test_cli_database_unreachable_exits_69(tmp_path: Path) -> None:
    env = {"PATRON_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    result = run(env, "customers")
    assert result.exit_code == 69, result.stderr
