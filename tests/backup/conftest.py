"""What the backup tests share: the CLI environment, demo data, a fresh database to restore into."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from patron.backup import keys
from patron.cli.main import app as cli
from patron.db.engine import Database
from tests.conftest import PG_ADMIN_URL

KEY = keys.new_key_text()


@pytest.fixture
def backup_env(db: Database, tmp_path: Path) -> dict[str, str]:
    return {
        "PATRON_DATABASE_URL": db.url,
        "PATRON_DATA_DIR": str(tmp_path / "data"),
        "PATRON_BACKUP_KEY": KEY,
    }


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, ["backup", *args], env=env)


def create_backup(env: dict[str, str], directory: Path) -> tuple[Path, dict[str, Any]]:
    import json

    result = run(env, "create", "--output", str(directory), "--json")
    assert result.exit_code == 0, result.stderr
    made = json.loads(result.stdout)
    return Path(made["path"]), made["manifest"]


def load_demo(database: Database, customers: int = 40, seed: int = 42) -> None:
    """The demo business, small, with a stand-in for the slow password hash."""
    from patron.demo import generate

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("patron.demo.generator.hash_password", lambda password: f"hash:{password}")
        generate(database, customers=customers, seed=seed)


def add_customers(database: Database, count: int, prefix: str = "Extra") -> None:
    from patron.customers.schemas import CustomerCreate
    from patron.customers.service import customers
    from patron.security.permissions import Principal

    with database.unit_of_work() as session:
        for index in range(count):
            customers.create(session, Principal.system(), CustomerCreate(name=f"{prefix} {index}"))


@pytest.fixture
def fresh_url(db: Database, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind as ``db``, with no tables at all."""
    if db.dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    name = f"patron_restore_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
