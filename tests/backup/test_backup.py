"""Backups end to end on SQLite and PostgreSQL: made while the app writes, verified, restored."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from patron.backup import checksums, container, keys
from patron.db import migrate
from patron.db.engine import Database
from patron.db.models import Customer
from tests.backup.conftest import KEY, add_customers, create_backup, load_demo, run


def sums_of(url: str) -> dict[str, dict[str, Any]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            found = checksums.database_sums(connection)
    finally:
        engine.dispose()
    return {name: value.to_dict() for name, value in found.items()}


def _later_heads(database: Database) -> set[str]:
    """The chain's hashes (writes went on after the backup: its head is one of them)."""
    with database.engine.connect() as connection:
        return set(connection.execute(text("SELECT hash FROM audit_entry")).scalars())


def customer_count(database: Database) -> int:
    with database.unit_of_work(write=False) as session:
        return session.scalar(select(func.count()).select_from(Customer)) or 0


class Writer(threading.Thread):
    """Keeps creating customers, as users of the running app would, until stopped."""

    def __init__(self, database: Database) -> None:
        super().__init__(daemon=True)
        self.database = database
        self.stop = threading.Event()
        self.written = 0
        self.started_writing = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            add_customers(self.database, 3, prefix=f"Live {self.written}")
            self.written += 3
            self.started_writing.set()


def test_backup_while_writing_verifies_and_restores_into_a_new_database(
    db: Database, backup_env: dict[str, str], fresh_url: str, tmp_path: Path
) -> None:
    load_demo(db)
    demo_customers = customer_count(db)
    writer = Writer(db)
    writer.start()
    assert writer.started_writing.wait(30)
    before = writer.written
    try:
        path, manifest = create_backup(backup_env, tmp_path / "backups")
        during = writer.written - before
    finally:
        writer.stop.set()
        writer.join(30)
    assert during > 0  # the app kept writing while the backup was made
    in_backup = manifest["tables"]["customer"]["rows"]
    assert demo_customers < in_backup <= customer_count(db)
    assert manifest["backend"] == db.dialect
    assert manifest["schema_revision"] == migrate.head_revision(db.engine)
    with db.engine.connect() as connection:
        head = connection.execute(
            text("SELECT hash FROM audit_entry ORDER BY id DESC LIMIT 1")
        ).scalar_one_or_none()
    assert head is not None
    assert manifest["audit_head"] in _later_heads(db)
    assert path.stat().st_mode & 0o777 == 0o600
    sidecar = path.with_name(path.name + ".sha256").read_text()
    assert sidecar.split() == [container.check_file_checksum(path), path.name]

    result = run(backup_env, "verify", str(path))
    assert result.exit_code == 0, result.stderr
    assert f"all {len(manifest['tables'])} tables match" in " ".join(result.stderr.split())

    result = run({**backup_env, "PATRON_DATABASE_URL": fresh_url}, "restore", str(path))
    assert result.exit_code == 0, result.stderr
    assert sums_of(fresh_url) == manifest["tables"]
    restored = Database(fresh_url)
    try:
        assert migrate.current_revision(restored.engine) == migrate.head_revision(db.engine)
        assert customer_count(restored) == in_backup
        add_customers(restored, 1)  # the app runs on it
        assert customer_count(restored) == in_backup + 1
    finally:
        restored.dispose()


def test_restore_refuses_a_database_with_data_unless_forced(
    db: Database, backup_env: dict[str, str], tmp_path: Path
) -> None:
    add_customers(db, 3)
    path, manifest = create_backup(backup_env, tmp_path / "backups")
    add_customers(db, 2, prefix="After the backup")

    result = run(backup_env, "restore", str(path))
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "is not empty" in message
    assert "--force" in message
    assert customer_count(db) == 5  # nothing was touched

    result = run(backup_env, "restore", str(path), "--force")
    assert result.exit_code == 0, result.stderr
    db.dispose()  # the SQLite file was replaced underneath the pool
    assert customer_count(db) == 3
    assert sums_of(db.url) == manifest["tables"]


def test_a_changed_backup_file_is_refused(
    db: Database, backup_env: dict[str, str], fresh_url: str, tmp_path: Path
) -> None:
    add_customers(db, 4)
    path, _ = create_backup(backup_env, tmp_path / "backups")
    original = path.read_bytes()
    middle = len(original) // 2
    flipped = bytearray(original)
    flipped[middle] ^= 0x01

    path.write_bytes(bytes(flipped))
    result = run(backup_env, "verify", str(path))
    assert result.exit_code == 1
    assert "checksum" in result.stderr
    assert "does not match" in result.stderr

    # A forger who also rewrites the trailer is stopped by the authenticated encryption.
    body = bytes(flipped[: -container.DIGEST_BYTES])
    path.write_bytes(body + hashlib.sha256(body).digest())
    result = run(backup_env, "verify", str(path))
    assert result.exit_code == 1
    assert "cannot be decrypted" in result.stderr

    result = run({**backup_env, "PATRON_DATABASE_URL": fresh_url}, "restore", str(path))
    assert result.exit_code == 1
    assert "cannot be decrypted" in result.stderr

    path.write_bytes(original[:middle] + original[-container.DIGEST_BYTES :])
    assert run(backup_env, "verify", str(path)).exit_code == 1

    path.write_bytes(original)
    other_key = {**backup_env, "PATRON_BACKUP_KEY": keys.new_key_text()}
    result = run(other_key, "verify", str(path))
    assert result.exit_code == 1
    assert "made with the key" in result.stderr


# Backend-independent paths run on SQLite only, to keep the suite quick.
SQLITE_ONLY = pytest.mark.parametrize("db", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_verify_names_the_tables_that_differ_from_the_manifest(
    db: Database, backup_env: dict[str, str], tmp_path: Path
) -> None:
    """A backup whose manifest disagrees with its content (sealed with the right key)."""
    add_customers(db, 2)
    path, manifest = create_backup(backup_env, tmp_path / "backups")
    work = tmp_path / "work"
    work.mkdir()
    key = keys.decode_key(KEY, "test")
    members = container.read_members(path, key, work)
    manifest["tables"]["customer"]["rows"] = 3
    del manifest["tables"]["team"]
    database_file = members[manifest["database"]["file"]][0]
    forged = tmp_path / "forged.pbk"
    with forged.open("wb") as file:
        writer = container.BackupWriter(file, key, b"\x07" * container.SALT_BYTES)
        writer.add_file(database_file.name, database_file)
        writer.add_bytes("manifest.json", json.dumps(manifest).encode())
        writer.close()

    result = run(backup_env, "verify", str(forged), "--json")
    assert result.exit_code == 1
    assert "differs from its manifest in: customer, team" in " ".join(result.stderr.split())
    report = json.loads(result.stdout)
    assert [item["table"] for item in report["differences"]] == ["customer", "team"]
    assert report["differences"][0]["actual"]["rows"] == 2
    assert report["differences"][1]["expected"] is None


@SQLITE_ONLY
def test_a_missing_key_is_a_clear_error(
    db: Database, backup_env: dict[str, str], tmp_path: Path
) -> None:
    no_key = {name: value for name, value in backup_env.items() if name != "PATRON_BACKUP_KEY"}
    path, _ = create_backup(no_key, tmp_path / "backups")
    key_file = Path(no_key["PATRON_DATA_DIR"]) / "backup.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert run(no_key, "verify", str(path)).exit_code == 0  # the key file is used again
    key_file.unlink()
    result = run(no_key, "verify", str(path))
    assert result.exit_code == 1
    assert "No backup key" in result.stderr
    result = run({**no_key, "PATRON_BACKUP_KEY": "short"}, "verify", str(path))
    assert result.exit_code == 1
    assert "URL-safe base64" in result.stderr
    result = run(no_key, "verify", str(tmp_path / "nothing.pbk"))
    assert result.exit_code == 74


def test_the_manifest_names_the_audit_chain_head(
    db: Database, backup_env: dict[str, str], tmp_path: Path
) -> None:
    from patron.customers.schemas import CustomerCreate
    from patron.customers.service import customers
    from patron.security.permissions import Principal

    with db.unit_of_work() as session:
        for name in ("Audited One", "Audited Two"):
            customers.create(session, Principal.system(), CustomerCreate(name=name))
    with db.engine.connect() as connection:
        head = connection.execute(
            text("SELECT hash FROM audit_entry ORDER BY id DESC LIMIT 1")
        ).scalar_one()
        entries = connection.execute(text("SELECT count(*) FROM audit_entry")).scalar_one()
    _, manifest = create_backup(backup_env, tmp_path / "backups")
    assert manifest["audit_head"] == head
    assert manifest["tables"]["audit_entry"]["rows"] == entries >= 2


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_a_backup_restores_only_into_its_own_kind_of_database(
    db: Database, backup_env: dict[str, str], tmp_path: Path
) -> None:
    add_customers(db, 2)
    pg_backup, _ = create_backup(backup_env, tmp_path / "pg")
    sqlite_url = f"sqlite:///{tmp_path / 'other.db'}"
    other = Database(sqlite_url)
    migrate.upgrade(other.engine)
    add_customers(other, 1)
    other.dispose()
    on_sqlite = {**backup_env, "PATRON_DATABASE_URL": sqlite_url}
    sqlite_backup, _ = create_backup(on_sqlite, tmp_path / "sqlite")

    result = run(backup_env, "restore", str(sqlite_backup), "--force")
    assert result.exit_code == 1
    assert "sqlite backup; it cannot be restored into postgresql" in result.stderr
    assert customer_count(db) == 2  # checked before anything was dropped
    result = run(on_sqlite, "verify", str(pg_backup))
    assert result.exit_code == 1
    assert "PostgreSQL backup is verified in a scratch database on a PostgreSQL" in " ".join(
        result.stderr.split()
    )


def test_a_restore_erases_again_whoever_was_erased_after_the_backup(
    db: Database, backup_env: dict[str, str], tmp_path: Path
) -> None:
    from patron.privacy import service as privacy
    from patron.security.permissions import Principal

    with db.unit_of_work() as session:
        customer = Customer(name="Restored Forgotten", email="forget.me@example.org")
        session.add(customer)
        session.flush()
        customer_id = customer.id
    path, _ = create_backup(backup_env, tmp_path / "backups")
    ledger = Path(backup_env["PATRON_DATA_DIR"]) / privacy.LEDGER_NAME
    with db.unit_of_work() as session:
        privacy.erase(session, Principal.system(), customer_id, ledger=ledger)

    result = run(backup_env, "restore", str(path), "--force", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["erased_again"] == 1
    db.dispose()
    with db.unit_of_work(write=False) as session:
        restored = session.get(Customer, customer_id)
        assert restored is not None
        assert restored.email is None
        assert restored.erased_at is not None
