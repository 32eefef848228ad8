"""The same content gives the same checksums on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from patron.backup import checksums
from patron.db import migrate
from patron.db.engine import Database
from patron.security import crypto_rotation
from tests.backup.conftest import load_demo
from tests.conftest import PG_ADMIN_URL, require_postgres

# What legitimately differs between two loads of the same demo: event ids and times, password
# hashes (salted), and nothing else.
# Events and accounts carry load-time values; encrypted columns a fresh nonce per value.
DIFFERS_PER_LOAD = {"event", "user_account"} | {
    table.name for table in crypto_rotation.encrypted_tables()
}


@pytest.mark.postgres
def test_demo_data_has_the_same_checksums_on_both_backends(tmp_path: Path) -> None:
    require_postgres()
    name = f"patron_sums_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    urls = [f"sqlite:///{tmp_path / 'sums.db'}", PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name]
    sums = []
    try:
        for url in urls:
            database = Database(url)
            migrate.upgrade(database.engine)
            load_demo(database, customers=30, seed=7)
            with database.engine.connect() as connection:
                sums.append(checksums.database_sums(connection))
            database.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    on_sqlite, on_postgres = sums
    assert set(on_sqlite) == set(on_postgres)
    assert on_sqlite["order_line"].rows > 50
    for table in sorted(set(on_sqlite) - DIFFERS_PER_LOAD):
        assert on_sqlite[table] == on_postgres[table], table
