"""Imports under stress: kill -9 and resume, eight at once on the same emails, hostile files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from patron.cli.main import app as cli
from patron.customers.models import Customer
from patron.db.engine import Database
from patron.integration import imports
from patron.integration.imports_models import ImportRecord, ImportRun
from patron.integration.imports_read import Limits
from patron.security.permissions import Principal
from tests.conftest import empty_tables

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATRON_DATABASE_URL", db.url)
    monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def snapshot(db: Database) -> list[tuple[Any, ...]]:
    with db.unit_of_work(write=False) as session:
        rows = session.execute(
            select(Customer.external_id, Customer.name, Customer.email, Customer.phone,
                   Customer.city, Customer.custom_fields).order_by(Customer.external_id)
        )  # fmt: skip
        return [tuple(row) for row in rows]


def big_csv(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as stream:
        stream.write("id,name,email,phone,city\n")
        for index in range(rows):
            email = "broken" if index % 997 == 0 else f"person{index}@example.com"
            stream.write(f"p{index:06d},person {index},{email},+1 212 555 {index % 10000:04d},c\n")
    return path


def cli_process(*args: str, env_dir: Path, url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "PATRON_DATABASE_URL": url,
        "PATRON_DATA_DIR": str(env_dir / "data"),
    }
    code = "from patron.cli.main import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def rows_done(db: Database) -> int:
    with db.unit_of_work(write=False) as session:
        return int(session.scalar(select(func.max(ImportRun.rows_done))) or 0)


@pytest.mark.slow
def test_kill_9_then_resume_reaches_the_uninterrupted_end_state(env: Path, db: Database) -> None:
    source = big_csv(env / "big.csv", 5_000)
    straight = cli_process("import", "customers", str(source), "--json", env_dir=env, url=db.url)
    out, err = straight.communicate(timeout=600)
    assert straight.returncode == 65, err.decode()
    expected, expected_report = snapshot(db), json.loads(out)
    assert len(expected) == 5_000 - expected_report["rejected"]
    empty_tables(db)

    victim = cli_process("import", "customers", str(source), env_dir=env, url=db.url)
    deadline = time.monotonic() + 300
    while rows_done(db) < 2_000:
        assert victim.poll() is None, victim.stderr.read().decode() if victim.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    with db.unit_of_work(write=False) as session:
        run = session.scalars(select(ImportRun)).one()
        assert run.status == "running"
        assert 2_000 <= run.rows_done < 5_000
        linked = session.scalar(select(func.count()).select_from(ImportRecord))
        customers = session.scalar(select(func.count()).select_from(Customer))
        assert linked == customers  # every committed batch whole, with its links

    again = cli_process("import", "customers", str(source), "--json", env_dir=env, url=db.url)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 65, err.decode()
    assert b"Resuming import" in err
    report = json.loads(out)
    assert report["import_id"] == str(run.id)
    assert snapshot(db) == expected
    for key in ("created", "updated", "unchanged", "rejected"):
        assert report[key] == expected_report[key], key
    with db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(ImportRun)) == 1
    error_lines = Path(report["error_file"]).read_text(encoding="utf-8").splitlines()
    assert len(error_lines) == 1 + report["rejected"]  # no error row written twice


def test_eight_concurrent_imports_make_one_customer_per_email(env: Path, db: Database) -> None:
    files = []
    for worker in range(8):
        lines = ["name,email"] + [
            f"Person {index} v{worker},Person{index}@Example.com" for index in range(200)
        ]
        files.append(env / f"file{worker}.csv")
        files[-1].write_text("\n".join(lines) + "\n", encoding="utf-8")
    ids = []
    with db.unit_of_work() as session:
        for path in files:
            run = imports.create_import(
                session, Principal.system(), entity="customers", path=path, limits=Limits()
            )
            ids.append(run.id)
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def work(import_id: Any) -> None:
        database = Database(db.url)
        try:
            start.wait()
            imports.run_import(
                database, import_id, limits=Limits(), data_dir=env / "data", batch_size=25
            )
        except BaseException as exc:
            failures.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=work, args=(import_id,)) for import_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not failures, failures
    with db.unit_of_work(write=False) as session:
        emails = session.execute(
            select(Customer.email, func.count()).group_by(Customer.email)
        ).all()
        runs = session.scalars(select(ImportRun)).all()
    assert len(emails) == 200
    assert all(number == 1 for _, number in emails)
    assert sum(run.created for run in runs) == 200
    assert all(run.status == "succeeded" and run.rejected == 0 for run in runs)


# ----- hostile files -----------------------------------------------------------------------------
def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["import", "customers", *args])


def assert_clear_error(result: Any, words: str) -> None:
    assert result.exit_code not in (0, 65), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert words in result.output, result.output
    assert "Traceback" not in result.output


def test_binary_file_is_refused_clearly(env: Path, db: Database) -> None:
    path = env / "image.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    assert_clear_error(invoke(str(path)), "not text")


def test_legacy_encoding_is_detected(env: Path, db: Database) -> None:
    path = env / "legacy.csv"
    body = "id,name\n" + "".join(f"{i},Name {i}\n" for i in range(2000)) + "2001,Jos\u00e9\n"
    path.write_bytes(body.encode("cp1252"))
    result = invoke(str(path), "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0
    assert report["created"] == 2001
    assert ("2001", "José") in [(row[0], row[1]) for row in snapshot(db)]


def test_ragged_rows_are_rejected(env: Path, db: Database) -> None:
    path = env / "ragged.csv"
    path.write_text("id,name,email\n1,Ann,ann@example.com\n2,Ben\n3,Cid,c@example.com,extra\n")
    result = invoke(str(path), "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 65
    assert (report["created"], report["rejected"]) == (1, 2)
    errors = Path(report["error_file"]).read_text(encoding="utf-8")
    assert "the row has 2 values, the header 3 columns" in errors
    assert "the row has 4 values, the header 3 columns" in errors


def test_ten_megabyte_cell_is_refused(env: Path, db: Database) -> None:
    path = env / "huge-cell.csv"
    path.write_text("id,name\n1,Ann\n2," + "x" * (10 * 1024 * 1024) + "\n", encoding="utf-8")
    assert_clear_error(invoke(str(path)), "larger than")
    with db.unit_of_work(write=False) as session:
        run = session.scalars(select(ImportRun)).one()
        assert run.status == "failed"
        assert "larger than" in (run.error or "")


def test_xlsx_zip_bomb_is_refused_before_inflating(env: Path, db: Database) -> None:
    path = env / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            chunk = b"0" * (1024 * 1024)
            for _ in range(64):
                member.write(chunk)
    assert path.stat().st_size < 1024 * 1024
    assert_clear_error(invoke(str(path)), "zip bomb")


def test_not_a_workbook_is_refused(env: Path, db: Database) -> None:
    path = env / "fake.xlsx"
    path.write_text("id,name\n1,Ann\n")
    assert_clear_error(invoke(str(path)), "not an XLSX workbook")


def test_file_over_the_size_limit_is_refused(
    env: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATRON_IMPORT_MAX_BYTES", "1000")
    path = env / "big.csv"
    path.write_text("id,name\n" + "".join(f"{i},Name {i}\n" for i in range(200)))
    assert_clear_error(invoke(str(path)), "at most 1,000")
    assert snapshot(db) == []


def test_broken_json_is_refused(env: Path, db: Database) -> None:
    path = env / "broken.json"
    path.write_text('[{"id": "1", "name": "Ann"}, {"id": "2", "name": ')
    assert_clear_error(invoke(str(path)), "JSON")
