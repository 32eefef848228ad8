"""``patron keys rotate``: every value moves to the new key, lookups keep working, a kill -9
mid-way resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from typer.testing import CliRunner

from patron.cli.main import app as cli
from patron.config import Settings
from patron.customers import repository
from patron.customers.models import Customer
from patron.db.engine import Database
from patron.kit.clock import utcnow
from patron.security import crypto
from patron.security.crypto_rotation import encrypted_tables
from patron.security.crypto_types import encrypted_columns
from tests.conftest import Caller
from tests.security.encryption_fixtures import (  # noqa: F401  (fixtures register on import)
    canaries,
    file_keyring_settings,
    suite_keys_afterwards,
    write_through_api,
)


def envelopes_by_key(db: Database) -> dict[str, int]:
    """How many stored values each key id seals, over every encrypted column, by raw SQL."""
    counts: dict[str, int] = {}
    with db.engine.connect() as connection:
        for table in encrypted_tables():
            for column in encrypted_columns(table):
                rows = connection.execute(
                    text(f"SELECT {column} FROM {table.name} WHERE {column} IS NOT NULL")
                )
                for (value,) in rows:
                    key = value.split(":")[1] if value.startswith("v1:") else "plain"
                    counts[key] = counts.get(key, 0) + 1
    return counts


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "PATRON_DATA_DIR": str(settings.data_dir),
        "PATRON_DATABASE_URL": str(settings.database_url),
    }


def insert_legacy_customer(db: Database, email: str, phone: str) -> uuid.UUID:
    """A customer as stored before encryption: plain values, no blind index."""
    customer_id = uuid.uuid4()
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO customer (id, kind, name, email, phone, tags, lifecycle_stage, "
                "custom_fields, created_at, updated_at, version) VALUES "
                "(:id, 'person', 'Legacy', :email, :phone, '[]', 'lead', '{}', :at, :at, 1)"
            ),
            {
                "id": customer_id.hex if db.dialect == "sqlite" else customer_id,
                "email": email,
                "phone": phone,
                "at": utcnow().replace(tzinfo=None) if db.dialect == "sqlite" else utcnow(),
            },
        )
    return customer_id


def test_rotation_moves_every_value_to_the_new_key_and_lookups_still_find_them(
    admin: Caller, db: Database, settings: Settings
) -> None:
    made = [write_through_api(admin, canaries()) for _ in range(3)]
    legacy_id = insert_legacy_customer(db, "Legacy@Old.example", "+49 30 901820")
    old_key = crypto.load_keyring(settings).current[crypto.DATA]
    before = envelopes_by_key(db)
    assert before["plain"] == 2
    assert before[old_key] >= 3 * 7

    result = CliRunner().invoke(
        cli, ["keys", "rotate", "--batch-size", "2", "--json"], env=cli_env(settings)
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    keyring = crypto.load_keyring(settings)
    new_key = keyring.current[crypto.DATA]
    assert report["data_key"] == new_key != old_key
    assert report["rewritten"]["customer"] == 4
    assert keyring.rotation is None
    assert old_key in keyring.keys  # kept: older backups need it
    assert envelopes_by_key(db) == {new_key: sum(before.values())}

    crypto.configure(settings)
    for entry in made:
        customer = entry["customer"]
        read = admin.get(f"/api/v1/customers/{customer['id']}").json()
        assert read["email"] == customer["email"]
        assert read["version"] == customer["version"]  # a rotation is not an edit
        found = admin.get("/api/v1/customers", params={"q": customer["email"]}).json()["data"]
        assert [item["id"] for item in found] == [customer["id"]]
        body = admin.get(f"/api/v1/activities/{entry['activity']['id']}").json()["body"]
        assert body == entry["activity"]["body"]
    with db.unit_of_work() as session:
        assert (
            repository.customers_by_email(session, ["legacy@old.example"])["legacy@old.example"].id
            == legacy_id
        )
        assert repository.customers_by_phone(session, ["+49 30 901820"])

    index_before = _email_indexes(db)
    again = CliRunner().invoke(cli, ["keys", "rotate", "--blind-index"], env=cli_env(settings))
    assert again.exit_code == 0, again.output
    keyring = crypto.load_keyring(settings)
    assert len([k for k in keyring.keys.values() if k.purpose == crypto.INDEX]) == 2
    assert envelopes_by_key(db) == {keyring.current[crypto.DATA]: sum(before.values())}
    assert _email_indexes(db).isdisjoint(index_before)  # recomputed under the new index key
    crypto.configure(settings)
    for entry in made:
        found = admin.get("/api/v1/customers", params={"q": entry["customer"]["email"]})
        assert [item["id"] for item in found.json()["data"]] == [entry["customer"]["id"]]


def _email_indexes(db: Database) -> set[str]:
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT email_index FROM customer"))
        return {row[0] for row in rows if row[0] is not None}


def test_a_rotation_killed_mid_way_resumes_and_completes(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    rows = 6000
    with db.engine.begin() as connection:  # through the column types: encrypted, indexed
        connection.execute(
            insert(Customer.__table__),  # type: ignore[arg-type]
            [
                {
                    "name": f"Bulk {i}",
                    "email": f"bulk{i}@rotate.example",
                    "phone": f"+1 415 555 {i:04d}",
                    "notes": f"note {i}",
                    "tags": [],
                    "custom_fields": {},
                    "version": 1,
                }
                for i in range(rows)
            ],
        )
    old_key = crypto.load_keyring(settings).current[crypto.DATA]
    assert envelopes_by_key(db) == {old_key: 3 * rows}
    env = {k: v for k, v in os.environ.items() if k != "PATRON_ENCRYPTION_KEYS"}
    env.update(cli_env(settings))
    command = [sys.executable, "-c", "from patron.cli.main import main; main()", "keys", "rotate"]

    process = subprocess.Popen(
        [*command, "--batch-size", "5"], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    new_key = _kill_mid_way(process, db, settings, rows)
    assert process.returncode == -signal.SIGKILL
    interrupted = crypto.load_keyring(settings)
    assert interrupted.rotation is not None
    assert interrupted.current[crypto.DATA] == new_key
    counts = envelopes_by_key(db)
    assert 0 < counts.get(new_key, 0) < 3 * rows
    assert counts[old_key] > 0
    crypto.configure(settings)  # mixed keys read fine meanwhile
    with db.unit_of_work(write=False) as session:
        found = repository.customers_by_email(
            session, ["bulk0@rotate.example", f"bulk{rows - 1}@rotate.example"]
        )
        assert len(found) == 2

    rerun = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "Resuming" in rerun.stderr
    keyring = crypto.load_keyring(settings)
    assert keyring.rotation is None
    assert keyring.current[crypto.DATA] == new_key  # no third key was added
    assert len([k for k in keyring.keys.values() if k.purpose == crypto.DATA]) == 2
    assert envelopes_by_key(db) == {new_key: 3 * rows}
    crypto.configure(settings)
    with db.unit_of_work(write=False) as session:
        phones = [f"+1 415 555 {i:04d}" for i in (0, 1234, rows - 1)]
        assert len(repository.customers_by_phone(session, phones)) == 3


def _kill_mid_way(
    process: subprocess.Popen[Any], db: Database, settings: Settings, rows: int
) -> str:
    """Wait until the rotation has rewritten some rows but not all, then SIGKILL it."""
    old_key = crypto.load_keyring(settings).current[crypto.DATA]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        key = crypto.load_keyring(settings).current[crypto.DATA]
        if key != old_key:
            with db.engine.connect() as connection:
                done = connection.execute(
                    text("SELECT count(*) FROM customer WHERE email LIKE :prefix"),
                    {"prefix": f"v1:{key}:%"},
                ).scalar_one()
            if 100 <= done < rows // 2:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
                return key
        time.sleep(0.02)
    process.kill()
    process.wait()
    raise AssertionError("the rotation was not caught mid-way")
