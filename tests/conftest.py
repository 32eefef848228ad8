"""Fixtures: a real database per backend (SQLite and PostgreSQL), the app, and callers.

Each backend's database is built once per test process by running the migrations; each test
starts from empty tables. PostgreSQL tests skip when the server is unreachable, except under
``CI=true``, where they fail.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from patron.config import Settings
from patron.db import migrate
from patron.db.engine import Database
from patron.db.models import Base
from patron.security import service as security
from patron.security.permissions import Principal, Role
from patron.security.schemas import ApiKeyCreate, TeamCreate, UserCreate

PG_ADMIN_URL = os.environ.get(
    "PATRON_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"

# Field encryption needs keys: the suite (and every subprocess it starts) uses one throwaway
# keyring; tests/security/test_encryption*.py set up their own.
os.environ.setdefault(
    "PATRON_ENCRYPTION_KEYS",
    f"data:t{secrets.token_hex(3)}:{base64.b64encode(secrets.token_bytes(32)).decode()},"
    f"index:t{secrets.token_hex(3)}:{base64.b64encode(secrets.token_bytes(32)).decode()}",
)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {type(exc).__name__}"


def require_postgres() -> None:
    reason = postgres_available()
    if reason:
        if IN_CI:
            pytest.fail(reason + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    require_postgres()
    name = f"patron_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, checkpointed into one file, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database.engine)
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


@pytest.fixture
def sqlite_database(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Each test's own copy of the migrated file: a test that leaves the file in a state other
    connections cannot use (a raw read of it drops this process's SQLite locks, say) cannot
    break the tests after it, as one shared file did."""
    path = tmp_path_factory.mktemp("sqlite") / "patron.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


_migrated: dict[str, Database] = {}


def _database(url: str) -> Database:
    if url not in _migrated:
        database = Database(url)
        migrate.upgrade(database.engine)
        _migrated[url] = database
    return _migrated[url]


def empty_tables(database: Database) -> None:
    tables = [table.name for table in Base.metadata.sorted_tables]
    with database.engine.begin() as connection:
        if database.dialect == "postgresql":
            # TRUNCATE fires no row triggers, so the audit trail's append-only guard stays on.
            quoted = ", ".join(f'"{name}"' for name in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            # SQLite's DELETE would meet the audit trail's append-only triggers: lift them for
            # the cleanup only, and put the very same triggers back.
            guards = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            ).all()
            for name, _ in guards:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            for name in reversed(tables):
                connection.execute(text(f'DELETE FROM "{name}"'))
            for _, sql in guards:
                connection.execute(text(sql))


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated, empty database on each backend."""
    if request.param == "postgres":
        database = _database(request.getfixturevalue("postgres_database"))
        empty_tables(database)
        yield database
        return
    database = Database(request.getfixturevalue("sqlite_database"))
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path, db: Database) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db.url,
        secret_key=SecretStr("test-secret-" + secrets.token_hex(8)),
        worker_in_process=False,
    )


@pytest.fixture
def app(settings: Settings, db: Database):  # type: ignore[no-untyped-def]
    from patron.web.app import create_app

    return create_app(settings, database=db)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


# Every API key the suite hands out; at the end of the run no log line may hold one.
ISSUED_KEYS: set[str] = set()
KEY_PATTERN = re.compile(r"ptn_[A-Za-z0-9_\-]{20,}")


class _LogScan(logging.Handler):
    """Keeps every key-shaped token any log record of the run contained."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.tokens: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        for token in KEY_PATTERN.findall(text):
            self.tokens.setdefault(token, f"{record.name}: {text[:200]}")


@pytest.fixture(scope="session", autouse=True)
def no_key_in_any_log() -> Iterator[None]:
    """The whole run's logs, scanned for the API keys the run issued (see also
    tests/security/test_secret_canaries.py for passwords and session cookies)."""
    scan = _LogScan()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(scan)
    root.setLevel(min(previous or logging.WARNING, logging.INFO))
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    yield
    root.removeHandler(scan)
    root.setLevel(previous)
    leaked = {token: line for token, line in scan.tokens.items() if token in ISSUED_KEYS}
    assert not leaked, f"API keys appeared in the logs: {list(leaked.values())[:3]}"


@dataclass
class Caller:
    """A user with an API key, and a client that sends it."""

    user_id: uuid.UUID
    email: str
    role: Role
    team_id: uuid.UUID | None
    key: str
    client: TestClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def get(self, url: str, **kwargs):  # type: ignore[no-untyped-def]
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.get(url, headers=headers, **kwargs)

    def post(self, url: str, **kwargs):  # type: ignore[no-untyped-def]
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.post(url, headers=headers, **kwargs)

    def patch(self, url: str, **kwargs):  # type: ignore[no-untyped-def]
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.patch(url, headers=headers, **kwargs)

    def delete(self, url: str, **kwargs):  # type: ignore[no-untyped-def]
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.delete(url, headers=headers, **kwargs)

    def put(self, url: str, **kwargs):  # type: ignore[no-untyped-def]
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.put(url, headers=headers, **kwargs)


class Callers:
    """Make users of any role and team, each with an API key."""

    def __init__(self, db: Database, client: TestClient) -> None:
        self.db = db
        self.client = client
        self.teams: dict[str, uuid.UUID] = {}

    def team(self, name: str) -> uuid.UUID:
        if name not in self.teams:
            with self.db.unit_of_work() as session:
                team = security.teams.create(session, Principal.system(), TeamCreate(name=name))
                self.teams[name] = team.id
        return self.teams[name]

    def make(
        self, role: Role | str, team: str | None = None, password: str | None = None
    ) -> Caller:
        role = Role(role)
        team_id = self.team(team) if team else None
        email = f"{role.value}-{secrets.token_hex(4)}@example.com"
        with self.db.unit_of_work() as session:
            user = security.create_user(
                session,
                Principal.system(),
                UserCreate(email=email, role=role, team_id=team_id, password=password),
            )
            _, key = security.api_keys.issue(
                session, Principal.system(), ApiKeyCreate(name="tests", user_id=user.id)
            )
            user_id = user.id
        ISSUED_KEYS.add(key)
        return Caller(user_id, email, role, team_id, key, self.client)


@pytest.fixture
def callers(db: Database, client: TestClient) -> Callers:
    return Callers(db, client)


@pytest.fixture
def admin(callers: Callers) -> Caller:
    return callers.make(Role.ADMIN)
