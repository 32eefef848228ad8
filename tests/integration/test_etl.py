"""`patron etl run`: another system's database into Patron, incrementally from a watermark,
cleaned and upserted like an import, each run recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from typer.testing import CliRunner

from patron.cli.main import app as cli
from patron.customers.models import Customer
from patron.db.engine import Database
from patron.integration.etl_models import EtlRun

JOB = """\
name: old-crm-contacts
entity: customers
source:
  url: {url}
  table: contacts
  watermark: modified_at
mapping:
  fields:
    external_id: contact_id
    name: [first_name, last_name]
    email: e_mail
    phone: tel
  options:
    default_region: GB
on_duplicate: update
"""


def _source(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'old_crm.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE contacts (contact_id TEXT PRIMARY KEY, first_name TEXT, "
                "last_name TEXT, e_mail TEXT, tel TEXT, modified_at TEXT)"
            )
        )
        connection.execute(
            text("INSERT INTO contacts VALUES (:i, :f, :l, :e, :t, :m)"),
            [
                {
                    "i": "c1",
                    "f": " Ada ",
                    "l": "Lovelace",
                    "e": "ADA@Example.com",
                    "t": "020 7946 0958",
                    "m": "2026-01-01T10:00:00",
                },
                {
                    "i": "c2",
                    "f": "Alan",
                    "l": "Turing",
                    "e": "alan@example.com",
                    "t": None,
                    "m": "2026-01-02T10:00:00",
                },
                {
                    "i": "c3",
                    "f": "Bad",
                    "l": "Email",
                    "e": "not-an-email",
                    "t": None,
                    "m": "2026-01-03T10:00:00",
                },
            ],
        )
    engine.dispose()
    return url


def _run(job: Path, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["etl", "run", str(job), "--json"], env=env)
    assert result.exit_code in (0, 65), result.output
    return result.exit_code, json.loads(result.stdout)


def _customers(db: Database) -> dict[str, Customer]:
    with db.unit_of_work(write=False) as session:
        found = session.scalars(select(Customer).where(Customer.external_id.is_not(None)))
        return {customer.external_id: customer for customer in found}  # type: ignore[misc]


def test_etl_loads_incrementally_and_records_each_run(
    db: Database, settings: Any, tmp_path: Path
) -> None:
    url = _source(tmp_path)
    job = tmp_path / "job.yaml"
    job.write_text(JOB.format(url=url), encoding="utf-8")
    env = {"PATRON_DATABASE_URL": db.url, "PATRON_DATA_DIR": str(settings.data_dir)}

    code, first = _run(job, env)
    assert code == 65  # the bad email was rejected
    assert (first["rows_read"], first["created"], first["rejected"]) == (3, 2, 1)
    assert first["watermark_to"] == "2026-01-03T10:00:00"
    stored = _customers(db)
    assert stored["c1"].name == "Ada Lovelace"  # cleaned by the import's code
    assert stored["c1"].email == "ada@example.com"
    assert stored["c1"].phone == "+442079460958"
    assert not list((settings.data_dir / "etl").glob("*.jsonl"))  # staging removed

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE contacts SET e_mail = 'turing@example.com', modified_at = :m "
                 "WHERE contact_id = 'c2'"),
            {"m": "2026-02-01T09:00:00"},
        )  # fmt: skip
        connection.execute(
            text("INSERT INTO contacts VALUES ('c4', 'Grace', 'Hopper', 'grace@example.com', "
                 "NULL, '2026-02-02T09:00:00')")
        )  # fmt: skip
    engine.dispose()
    code, second = _run(job, env)
    assert code == 0
    assert second["watermark_from"] == "2026-01-03T10:00:00"
    assert (second["rows_read"], second["created"], second["updated"]) == (2, 1, 1)
    assert _customers(db)["c2"].email == "turing@example.com"

    code, third = _run(job, env)
    assert (code, third["rows_read"], third["written"], third["import_id"]) == (0, 0, 0, None)
    with db.unit_of_work(write=False) as session:
        runs = session.scalars(select(EtlRun).order_by(EtlRun.started_at)).all()
        assert [run.status for run in runs] == ["succeeded"] * 3
        assert [run.rows_read for run in runs] == [3, 2, 0]
    listed = CliRunner().invoke(cli, ["etl", "runs", "--json"], env=env)
    assert [item["rows_read"] for item in json.loads(listed.stdout)] == [0, 2, 3]

    reverted = CliRunner().invoke(cli, ["import", "revert", second["import_id"]], env=env)
    assert reverted.exit_code == 0, reverted.output
    assert "c4" not in _customers(db)
    assert _customers(db)["c2"].email == "alan@example.com"


def test_a_file_source_and_bad_jobs(db: Database, settings: Any, tmp_path: Path) -> None:
    env = {"PATRON_DATABASE_URL": db.url, "PATRON_DATA_DIR": str(settings.data_dir)}
    export = tmp_path / "export.csv"
    export.write_text("id,name,email\nf1,Fay File,fay@example.com\n", encoding="utf-8")
    job = tmp_path / "file.yaml"
    job.write_text(
        "name: file-job\nentity: customers\nsource:\n  file: export.csv\n"
        "mapping:\n  fields: {external_id: id, name: name, email: email}\n",
        encoding="utf-8",
    )
    code, report = _run(job, env)
    assert (code, report["rows_read"], report["created"]) == (0, 1, 1)
    assert export.exists()  # a file source is the user's: never removed
    assert _customers(db)["f1"].email == "fay@example.com"

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nentity: planets\nsource: {url: 'sqlite://', file: a.csv}\n")
    result = CliRunner().invoke(cli, ["etl", "run", str(bad)], env=env)
    assert result.exit_code == 2
    assert "entity" in result.stderr
    unreachable = tmp_path / "down.yaml"
    unreachable.write_text(
        "name: down\nentity: customers\nsource:\n  url: sqlite:////nonexistent/dir/x.db\n"
        "  table: contacts\n"
    )
    result = CliRunner().invoke(cli, ["etl", "run", str(unreachable)], env=env)
    assert result.exit_code == 2
    assert "Reading the source failed" in result.stderr
    with db.unit_of_work(write=False) as session:
        failed = session.scalars(select(EtlRun).where(EtlRun.name == "down")).one()
        assert failed.status == "failed"
