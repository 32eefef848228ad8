"""Exports through the API and the CLI: four formats round trip, formula injection, scope, and
the rows exactly as the plain per-record path (ORM records shaped one by one by the read schema)
gives them, byte for byte."""

from __future__ import annotations

import csv
import enum
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Text, literal, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from patron.cli.main import app as cli
from patron.config import Settings
from patron.crud import repository
from patron.customers.models import Customer
from patron.db import migrate
from patron.db.engine import Database
from patron.demo import generate
from patron.insights.models import CustomerInsight
from patron.integration import exports
from patron.security import crypto
from patron.security.models import User
from patron.security.permissions import Action, Principal, Role
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


class Level(enum.IntEnum):
    HIGH = 3


class Label(str):
    pass


def test_csv_cells_are_as_they_have_always_been_in_any_column() -> None:
    rows: list[dict[str, Any]] = [
        {
            "int": index,
            "text": "=SUM(A1)" if index % 170 == 0 else f"plain {index}",
            "none": None,
            "flag": index % 2 == 0,
            "json": [index, {"=k": "-v"}] if index % 3 else {"ü": None},
            "float": index / 7,
            "enum": Level.HIGH,
            "label": Label("@me" if index % 250 == 0 else "me"),
            "empty": "" if index % 5 else "\rstart",
            "mixed": [None, 1, 2.5, "+1", True, "x"][index % 6],
            **({"sometimes": "-5"} if index % 4 == 0 else {}),
        }
        for index in range(450)  # crosses the writer's groups of rows
    ]
    names = [*rows[0], "sometimes"]
    columns = [exports.Column(name, "string") for name in names]
    assert b"".join(exports.iter_csv(rows, columns)) == reference_file("csv", rows, names)
    for name in ("int", "text"):  # one column
        one = [exports.Column(name, "string")]
        assert b"".join(exports.iter_csv(rows, one)) == reference_file("csv", rows, [name])


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


# ----- the rows are exactly the API's: against the straightforward per-record path ---------------
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def reference_rows(
    session: Session,
    principal: Principal,
    entity: str,
    filters: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The export as the plain way gives it: the list API's scoped, filtered select, every
    record loaded as an ORM record with what the resource's reads load, sorted as the export
    sorts (ties by id), each shaped by the read schema on its own."""
    spec = exports.exportable(entity)
    resource = spec.service.resource
    parsed = exports.parse_filters(spec, filters)
    statement = repository.scoped_select(resource, principal)
    if resource.apply_filters is not None:
        statement = resource.apply_filters(statement, parsed)
    sort = getattr(parsed, "sort", None) or "id"
    column = {**resource.sort_fields, "id": resource.model.id}[sort.lstrip("-")]
    key = resource.model.id
    order = (column.desc(), key.desc()) if sort.startswith("-") else (column.asc(), key.asc())
    records = session.scalars(statement.order_by(*order)).all()
    return [spec.read_schema.model_validate(record).model_dump(mode="json") for record in records]


def reference_cell(value: Any) -> Any:
    """A CSV cell as the writer has always made it (``cell``, then formulas quoted)."""
    if value is None or isinstance(value, bool | list | dict):
        value = cell(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def reference_file(fmt: str, rows: list[dict[str, Any]], names: list[str]) -> bytes:
    """CSV and JSON Lines from the rows without the exporter's writers."""
    if fmt == "jsonl":
        lines = [json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows]
        return "".join(lines).encode("utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(names)
    writer.writerows([reference_cell(row.get(name)) for name in names] for row in rows)
    return buffer.getvalue().encode("utf-8")


def reference_values(fmt: str, rows: list[dict[str, Any]], spec: exports.Exportable) -> list[Any]:
    """What Parquet (typed columns) and XLSX (neutralised text) hold for the rows."""
    kinds = {column.name: column.kind for column in spec.columns}

    def parquet(name: str, value: Any) -> Any:
        if value is None:
            return None
        if kinds[name] == "datetime":
            return datetime.fromisoformat(value)
        if kinds[name] == "json":
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return value

    def xlsx(value: Any) -> Any:
        if isinstance(value, float):  # the workbook keeps 15 significant digits or so
            return pytest.approx(value, rel=1e-14)
        return None if value is None else reference_cell(value)

    if fmt == "parquet":
        return [{name: parquet(name, value) for name, value in row.items()} for row in rows]
    return [{name: xlsx(value) for name, value in row.items()} for row in rows]


def exported(
    db: Database,
    principal: Principal,
    entity: str,
    fmt: str,
    filters: dict[str, Any] | None = None,
    batch_size: int = 3,
) -> bytes:
    with db.unit_of_work(write=False) as session:
        export = exports.open_export(session, principal, entity, filters, batch_size=batch_size)
        stream = io.BytesIO()
        exports.write(fmt, export.rows, stream, export.columns)
        assert len(session.identity_map) == 0  # every batch forgotten
    return stream.getvalue()


def full_customers(db: Database, admin: Caller, rep: Caller) -> None:
    """Customers with every field filled in every way: unicode, text a spreadsheet would run,
    JSON of every kind, links, consent, erasure, a merge, scores; the same name four times so
    a sort by name crosses batches inside a tie; and one with nothing but a name."""
    company = make_customer(admin, name="Ünïcode GmbH 北京", kind="company", country="DE")
    notes = ['=HYPERLINK("x")', "+49 30", "-2+3", "@SUM(A1)", "\tTab", 'a,b "q"\nline', "€ ß", "x"]
    names = ["Dup", "Zoë", "Dup", "=Name", "Dup", "Dup", "Ævar", "Erased later"]
    made = []
    for index, (name, note) in enumerate(zip(names, notes, strict=True)):
        made.append(
            make_customer(
                rep if index % 2 else admin,
                name=name,
                email=f"Person{index}@Example.com",
                phone=f"+49 30 123456{index}",
                address_line1=f"{index} Straße",
                address_line2="Hinterhaus" if index % 2 else None,
                city="Köln",
                region="NRW",
                postal_code="50667",
                country="DE",
                tags=[["=vip", "b2b", "ü"], ["b2b"], [], ["=vip", "b2b"]][index % 4],
                lifecycle_stage=["lead", "customer", "churned"][index % 3],
                source="=import",
                external_id=f"ext-{index}",
                company_id=company["id"] if index % 6 == 0 else None,  # the rep can't see it
                notes=note,
                custom_fields={
                    "score": index,
                    "ratio": index / 3,
                    "ok": index % 2 == 0,
                    "none": None,
                    "big": 10**17 + index,
                    "list": [1, "=2", {"ü": None}],
                    "=formula": "-1",
                },
            )
        )
    make_customer(admin, name="Bare")
    consent = admin.put(
        f"/api/v1/customers/{made[1]['id']}/consent",
        json={"marketing_consent": "opted_in", "source": "=web form"},
    )
    assert consent.status_code == 200, consent.text
    erased = admin.post(f"/api/v1/customers/{made[7]['id']}/erase")
    assert erased.status_code == 200, erased.text
    now = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    with db.unit_of_work() as session:
        session.get(Customer, uuid.UUID(made[3]["id"])).merged_into_id = uuid.UUID(made[0]["id"])
        for index, customer in enumerate(made[:5]):
            session.add(
                CustomerInsight(
                    id=uuid.uuid4(),
                    created_at=now,
                    updated_at=now,
                    version=1,
                    customer_id=uuid.UUID(customer["id"]),
                    segment_name=None if index == 1 else f"=Champions {index}",
                    p_alive=index / 7,
                    expected_purchases=float(index),
                    clv=None if index == 2 else 1234.5 + index,
                    churn_risk=0.25,
                )
            )


CUSTOMER_EXPORTS = [
    {},
    {"sort": "-name"},
    {"sort": "name", "include_merged": True},
    {"tag": "b2b", "sort": "-created_at"},
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "xlsx"])
def test_customers_are_exactly_the_per_record_shapes(
    db: Database, admin: Caller, callers: Callers, fmt: str
) -> None:
    rep = callers.make("sales", team="A")
    full_customers(db, admin, rep)
    spec = exports.exportable("customers")
    names = [column.name for column in spec.columns]
    principals = [Principal.system(), Principal(rep.user_id, rep.role, team_id=rep.team_id)]
    for principal in principals:
        for filters in CUSTOMER_EXPORTS:
            with db.unit_of_work(write=False) as session:
                want = reference_rows(session, principal, "customers", filters)
            assert want, filters
            got = exported(db, principal, "customers", fmt, filters)
            if fmt in ("csv", "jsonl"):
                assert got == reference_file(fmt, want, names), (principal.role, filters)
            else:
                assert parse(fmt, got) == reference_values(fmt, want, spec), (principal, filters)
    with db.unit_of_work(write=False) as session:
        everything = reference_rows(
            session, Principal.system(), "customers", {"include_merged": True}
        )
    assert any(row["segment_name"] for row in everything)  # the scores came through
    assert sum(row["name"] == "Dup" for row in everything) == 4


def test_every_entity_is_exactly_the_per_record_shapes(db: Database) -> None:
    generate(db, customers=40, seed=5)
    with db.unit_of_work() as session:
        for index, customer_id in enumerate(session.scalars(select(Customer.id).limit(15))):
            at = datetime(2026, 5, 1, tzinfo=UTC)
            session.add(
                CustomerInsight(
                    id=uuid.uuid4(),
                    created_at=at,
                    updated_at=at,
                    version=1,
                    customer_id=customer_id,
                    segment_name=f"Segment {index % 3}",
                    clv=float(index),
                )
            )
        sales = session.execute(
            select(User.id, User.team_id).where(User.role == Role.SALES.value).limit(1)
        ).one()
    rep = Principal(sales.id, Role.SALES, team_id=sales.team_id)
    counted: dict[str, int] = {}
    for entity in exports.exportables():
        for principal in (Principal.system(), rep):
            if not principal.can(exports.exportable(entity).service.resource.entity, Action.READ):
                continue
            with db.unit_of_work(write=False) as session:
                want = reference_rows(session, principal, entity)
                for batch_size in (7, exports.BATCH_SIZE):
                    export = exports.open_export(session, principal, entity, batch_size=batch_size)
                    assert list(export.rows) == want, (entity, principal.role, batch_size)
                    assert len(session.identity_map) == 0  # related records forgotten
            counted[f"{entity} ({principal.role.value})"] = len(want)
    assert [name for name, count in counted.items() if count == 0] == []  # all had rows


def test_a_read_schema_beyond_columns_and_relationships_is_refused() -> None:
    from patron.customers.schemas import CustomerRead
    from patron.customers.service import CustomerService

    class Odd(CustomerRead):
        metadata: Any = None  # a model attribute, neither a column nor a relationship

    class OddService(CustomerService):
        read_schema = Odd

    spec = exports.Exportable(
        "odd_customers", OddService(), exports.exportable("customers").filter_schema
    )
    with pytest.raises(TypeError, match="metadata"):
        exports._source(spec)


@pytest.fixture
def file_keys(tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Keys from a keyring file, as ``patron init`` makes it; the suite's keys back afterwards."""
    monkeypatch.delenv("PATRON_ENCRYPTION_KEYS", raising=False)
    settings = Settings(data_dir=tmp_path / "data", database_url=db.url)
    assert crypto.ensure_keyring(settings)
    crypto.configure(settings)
    yield settings
    monkeypatch.undo()
    crypto.configure(Settings())


def test_a_key_rotated_elsewhere_is_picked_up_mid_export(
    db: Database, file_keys: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from patron.customers.schemas import CustomerCreate
    from patron.customers.service import customers

    with db.unit_of_work() as session:
        customers.create(
            session, Principal.system(), CustomerCreate(name="Old", email="old@example.com")
        )
        rotated = customers.create(
            session, Principal.system(), CustomerCreate(name="New", email="placeholder@x.com")
        ).id
    monkeypatch.setattr(crypto, "RELOAD_SECONDS", 3600.0)
    crypto.active_keyring()  # this process has read the keyring, and keeps it
    # Another process rotates the data key and writes a value under the new one.
    newer = crypto.load_keyring(file_keys).with_new_keys((crypto.DATA,))
    crypto.keyring_path(file_keys).write_text(json.dumps(newer.to_json()), encoding="utf-8")
    sealed = newer.encrypt("customer.email", "new@example.com")
    table = Customer.__table__
    with db.engine.begin() as connection:
        connection.execute(
            update(table).where(table.c.id == rotated).values(email=literal(sealed, Text))
        )
    assert crypto.active_keyring().keys.keys() != newer.keys.keys()  # still the old keyring
    with db.unit_of_work(write=False) as session:
        rows = list(exports.export_rows(session, Principal.system(), "customers"))
    assert [row["email"] for row in rows] == ["old@example.com", "new@example.com"]
