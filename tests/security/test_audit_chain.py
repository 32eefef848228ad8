"""The audit chain: append-only in the database, and ``patron audit verify`` names the first
entry that was edited, deleted or moved by raw SQL — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from patron.cli.main import app
from patron.customers.schemas import CustomerCreate
from patron.customers.service import customers
from patron.db.engine import Database
from patron.events.models import Event
from patron.security import audit
from patron.security.audit_models import AuditEntry
from patron.security.permissions import Principal

ENTRIES = 5
AUDIT_TRIGGERS = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_entry'"
)


@pytest.fixture
def env(db: Database, tmp_path: Path) -> dict[str, str]:
    return {
        "PATRON_DATABASE_URL": db.url,
        "PATRON_DATA_DIR": str(tmp_path / "data"),
        "PATRON_SECRET_KEY": "audit-chain-test",
    }


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def write_entries(db: Database, count: int = ENTRIES, prefix: str = "Chain") -> None:
    """One audit entry per transaction: a customer created by the system."""
    for index in range(count):
        with db.unit_of_work() as session:
            customers.create(session, Principal.system(), CustomerCreate(name=f"{prefix} {index}"))


@contextmanager
def guard_lifted(db: Database) -> Iterator[None]:
    """Switch the append-only triggers off, as someone with the database's owner rights could."""
    with db.engine.begin() as connection:
        if db.dialect == "postgresql":
            connection.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
            guards = []
        else:
            guards = connection.execute(text(AUDIT_TRIGGERS)).all()
            for name, _ in guards:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
    try:
        yield
    finally:
        with db.engine.begin() as connection:
            if db.dialect == "postgresql":
                connection.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER USER"))
            for _, sql in guards:
                connection.execute(text(sql))


def tamper(db: Database, *statements: str, **params: object) -> None:
    with guard_lifted(db), db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), params)


def verified(env: dict[str, str], *extra: str) -> dict[str, object]:
    code, out, err = run(env, "audit", "verify", "--json", *extra)
    result = json.loads(out)
    assert code == (0 if result["intact"] else 1), err
    return result


def test_an_intact_chain_verifies(db: Database, env: dict[str, str]) -> None:
    code, out, err = run(env, "audit", "verify")
    assert (code, out.strip()) == (0, "Audit chain intact: 0 entries.")

    write_entries(db)
    code, out, err = run(env, "audit", "verify", "--batch-size", "2")
    assert code == 0, err
    assert out.startswith(f"Audit chain intact: {ENTRIES} entries, head {ENTRIES} ")

    with db.engine.connect() as connection:
        top = connection.execute(text("SELECT id, hash FROM audit_entry ORDER BY id DESC")).first()
        first = connection.execute(text("SELECT prev_hash FROM audit_entry WHERE id = 1")).scalar()
    assert top is not None
    assert first == audit.GENESIS
    assert verified(env) == {
        "intact": True, "entries": ENTRIES, "head_id": top.id, "head_hash": top.hash,
        "broken": None,
    }  # fmt: skip


def test_the_database_refuses_to_change_or_remove_an_entry(db: Database, env: dict[str, str]):  # type: ignore[no-untyped-def]
    write_entries(db, 2)
    for statement in (
        "UPDATE audit_entry SET ip_address = '10.6.6.6' WHERE id = 1",
        "DELETE FROM audit_entry WHERE id = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
            connection.execute(text(statement))
    assert verified(env)["intact"] is True


def _swap(db: Database) -> None:
    """Entries 2 and 4 trade places (every column but the id trades)."""
    tamper(
        db,
        "UPDATE audit_entry SET id = -2 WHERE id = 2",
        "UPDATE audit_entry SET id = 2 WHERE id = 4",
        "UPDATE audit_entry SET id = 4 WHERE id = -2",
    )


def _rewrite(db: Database) -> None:
    """Entry 3 edited and given the hash its new content has: only its successor notices."""
    with db.unit_of_work(write=False) as session:
        entry = session.get(AuditEntry, 3)
        assert entry is not None
        session.expunge(entry)
    entry.ip_address = "10.6.6.6"
    tamper(
        db,
        "UPDATE audit_entry SET ip_address = :ip, hash = :hash WHERE id = 3",
        ip=entry.ip_address,
        hash=audit.entry_hash(entry),
    )


TAMPERING = {
    "edit": (lambda db: tamper(db, "UPDATE audit_entry SET ip_address = '10.6.6.6' WHERE id = 3"),
             3, "hash mismatch"),
    "edit action": (lambda db: tamper(db, "UPDATE audit_entry SET action = 'update' WHERE id = 4"),
                    4, "hash mismatch"),
    "delete": (lambda db: tamper(db, "DELETE FROM audit_entry WHERE id = 3"), 3, "gap"),
    "delete first": (lambda db: tamper(db, "DELETE FROM audit_entry WHERE id = 1"), 1, "gap"),
    "delete last": (lambda db: tamper(db, "DELETE FROM audit_entry WHERE id = 5"), 5, "gap"),
    "swap": (_swap, 2, "reorder"),
    "rewrite": (_rewrite, 3, "rewritten"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_found_and_named(case: str, db: Database, env: dict[str, str]) -> None:
    write_entries(db)
    change, broken_id, reason = TAMPERING[case]
    change(db)

    code, out, err = run(env, "audit", "verify")
    assert code == 1
    assert f"Audit chain broken at entry {broken_id}: {reason}" in err
    assert out == ""
    result = verified(env)
    assert result["intact"] is False
    assert result["broken"]["id"] == broken_id  # type: ignore[index]
    assert result["broken"]["reason"] == reason  # type: ignore[index]


def test_chain_order_is_commit_order_under_concurrent_writers(
    db: Database, env: dict[str, str]
) -> None:
    writers, each = 4, 5
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            write_entries(db, each, prefix=f"Writer {number}")
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    assert verified(env)["entries"] == writers * each
    with db.unit_of_work(write=False) as session:
        trail = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        feed = session.scalars(select(Event).order_by(Event.position)).all()
        assert [e.id for e in trail] == list(range(1, writers * each + 1))
        times = [e.occurred_at for e in trail]
        assert times == sorted(times)
        # The event log and the trail share one lock, so they list the writes in one order.
        assert [e.entity_id for e in trail] == [e.entity_id for e in feed]


def test_cli_exports_are_recorded(db: Database, env: dict[str, str], tmp_path: Path) -> None:
    write_entries(db, 2)
    output = tmp_path / "customers.csv"
    code, _, err = run(env, "export", "customers", "--filter", "q=Chain", "--output", str(output))
    assert code == 0, err
    with db.unit_of_work(write=False) as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "export")).all()
        assert (entry.actor_type, entry.entity) == ("system", "customer")
        assert entry.detail == {
            "export": "customers",
            "format": "csv",
            "filters": {"q": "[masked]"},
        }
    assert verified(env)["entries"] == 3
