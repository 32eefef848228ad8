"""Make, verify and restore backups; list and prune them.

``create`` takes a consistent snapshot (SQLite: the online backup API into a temporary file;
PostgreSQL: ``pg_dump`` of an exported snapshot), reads the manifest from that same snapshot,
and writes one encrypted file (see ``container``). ``verify`` restores a backup into a scratch
database and compares every table with the manifest; ``restore`` does the same into the
configured database, then brings its schema to the newest revision.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, inspect, text

from patron import __version__
from patron.backup import checksums, container, keys, postgres, sqlite
from patron.backup.errors import (
    BackupBackendMismatch,
    BackupCorrupt,
    BackupError,
    DatabaseNotEmpty,
)
from patron.config import Settings
from patron.db import migrate
from patron.db.engine import Database
from patron.kit.clock import utcnow

FORMAT = 1
MANIFEST = "manifest.json"
MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
NAME = re.compile(r"^patron-backup-(\d{8}T\d{6})Z(?:-(\d+))?\.pbk$")
EMPTY_EXCEPT = {"alembic_version"}

Reporter = Callable[[str, int, int | None], None]
"""``report(step, done, total)``: progress of a long step (``total`` None when unknown)."""


def quiet(step: str, done: int, total: int | None) -> None:
    """A reporter that reports nothing."""


@dataclass(frozen=True)
class Created:
    path: Path
    sha256: str
    manifest: dict[str, Any]


@dataclass(frozen=True)
class TableDifference:
    table: str
    expected: dict[str, Any] | None
    actual: dict[str, Any] | None


@dataclass(frozen=True)
class Verified:
    path: Path
    manifest: dict[str, Any]
    differences: list[TableDifference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


@dataclass(frozen=True)
class Restored:
    manifest: dict[str, Any]
    revision: str | None
    erased_again: int = 0  # customers erased after the backup was taken, erased again


# ----- create ----------------------------------------------------------------------------------
def create(
    settings: Settings, *, output_dir: Path | None = None, report: Reporter = quiet
) -> Created:
    """Back up the configured database into ``output_dir`` (default: the backup directory)."""
    key = keys.load_key(settings, create=True)
    directory = output_dir if output_dir is not None else settings.resolved_backup_dir
    directory.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    now = utcnow()
    with tempfile.TemporaryDirectory(dir=directory, prefix=".patron-backup-") as work:
        if settings.is_sqlite:
            snapshot, manifest = _snapshot_sqlite(url, Path(work), now, report)
        else:
            snapshot, manifest = _snapshot_postgres(settings, Path(work), now, report)
        target = _new_path(directory, now)
        sha256 = _write(target, key, snapshot, manifest, report)
    target.with_name(target.name + ".sha256").write_text(f"{sha256}  {target.name}\n", "utf-8")
    return Created(path=target, sha256=sha256, manifest=manifest)


def _snapshot_sqlite(
    url: str, work: Path, now: datetime, report: Reporter
) -> tuple[Path, dict[str, Any]]:
    snapshot = work / MEMBERS["sqlite"]
    report("Copying the SQLite database", 0, 1)
    sqlite.snapshot(url, snapshot)
    report("Copying the SQLite database", 1, 1)
    with _engine(f"sqlite:///{snapshot}") as engine, engine.connect() as connection:
        manifest = _manifest(connection, "sqlite", sqlite.version(), now, report)
    return snapshot, manifest


def _snapshot_postgres(
    settings: Settings, work: Path, now: datetime, report: Reporter
) -> tuple[Path, dict[str, Any]]:
    url = settings.resolved_database_url
    snapshot = work / MEMBERS["postgresql"]
    with _engine(url) as engine, engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            connection.execute(text("SET TRANSACTION READ ONLY"))
            exported = str(connection.execute(text("SELECT pg_export_snapshot()")).scalar_one())
            tool = postgres.find_tool(
                "pg_dump", postgres.server_major(connection), settings.backup_pg_bin_dir
            )
            report("Dumping with pg_dump", 0, None)
            postgres.dump(tool, url, exported, snapshot)
            report("Dumping with pg_dump", 1, 1)
            version = postgres.server_version(connection)
            manifest = _manifest(connection, "postgresql", version, now, report)
    return snapshot, manifest


def _manifest(
    connection: Connection, backend: str, version: str, now: datetime, report: Reporter
) -> dict[str, Any]:
    tables = checksums.reflect(connection)
    total = sum(checksums.count_rows(connection, tables).values())
    sums = _sums(connection, total, report, tables)
    return {
        "format": FORMAT,
        "created_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "backend": backend,
        "server_version": version,
        "patron_version": __version__,
        "schema_revision": checksums.schema_revision(connection),
        "audit_head": checksums.audit_head(connection),
        "tables": {name: value.to_dict() for name, value in sums.items()},
    }


def _sums(
    connection: Connection,
    total: int | None,
    report: Reporter,
    tables: list[Table] | None = None,
) -> dict[str, checksums.TableSum]:
    done = [0]

    def on_rows(_table: str, rows: int) -> None:
        done[0] += rows
        report("Checksumming tables", done[0], total)

    return checksums.database_sums(connection, tables, on_rows)


def _write(
    target: Path, key: bytes, snapshot: Path, manifest: dict[str, Any], report: Reporter
) -> str:
    size = snapshot.stat().st_size
    member = snapshot.name
    partial = target.with_name(target.name + ".partial")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            writer = container.BackupWriter(file, key, secrets.token_bytes(container.SALT_BYTES))
            digest = writer.add_file(
                member, snapshot, lambda done: report("Compressing and encrypting", done, size)
            )
            manifest["database"] = {"file": member, "bytes": size, "sha256": digest}
            writer.add_bytes(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
            sha256 = writer.close()
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return sha256


def _new_path(directory: Path, now: datetime) -> Path:
    stem = f"patron-backup-{now:%Y%m%dT%H%M%S}Z"
    path, number = directory / f"{stem}.pbk", 0
    while path.exists():
        number += 1
        path = directory / f"{stem}-{number}.pbk"
    return path


# ----- open, verify, restore -------------------------------------------------------------------
@dataclass(frozen=True)
class _Opened:
    manifest: dict[str, Any]
    database: Path


def _open(settings: Settings, path: Path, work: Path, report: Reporter) -> _Opened:
    size = path.stat().st_size
    container.check_file_checksum(path, lambda done: report("Checking the checksum", done, size))
    key = keys.load_key(settings, create=False)
    members = container.read_members(path, key, work, lambda done: report("Decrypting", done, size))
    if MANIFEST not in members:
        raise BackupCorrupt(f"{path.name} has no manifest.")
    try:
        manifest = json.loads(members[MANIFEST][0].read_text("utf-8"))
        described = manifest["database"]
        database, digest = members[described["file"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupCorrupt(f"The manifest of {path.name} is incomplete ({exc}).") from None
    if digest != described["sha256"]:
        raise BackupCorrupt(f"The database in {path.name} does not match its SHA-256.")
    if manifest.get("format") != FORMAT or manifest.get("backend") not in MEMBERS:
        raise BackupCorrupt(f"{path.name} has a manifest this Patron does not understand.")
    return _Opened(manifest=manifest, database=database)


def compare(
    expected: dict[str, Any], actual: dict[str, checksums.TableSum]
) -> list[TableDifference]:
    differences = []
    for name in sorted(set(expected) | set(actual)):
        want = expected.get(name)
        got = actual[name].to_dict() if name in actual else None
        if want != got:
            differences.append(TableDifference(table=name, expected=want, actual=got))
    return differences


def verify(settings: Settings, path: Path, *, report: Reporter = quiet) -> Verified:
    """Restore the backup into a scratch database and compare every table with the manifest."""
    with tempfile.TemporaryDirectory(prefix="patron-verify-") as work:
        opened = _open(settings, path, Path(work), report)
        with _scratch(settings, opened, Path(work)) as url:
            _load(settings, opened, url, report)
            with _engine(url) as engine, engine.connect() as connection:
                sums = _sums(connection, _row_total(opened.manifest), report)
    return Verified(path, opened.manifest, compare(opened.manifest["tables"], sums))


def restore(
    settings: Settings, path: Path, *, force: bool = False, report: Reporter = quiet
) -> Restored:
    """Restore into the configured database: it must be empty unless ``force`` is given."""
    url = settings.resolved_database_url
    database = Database(url)
    try:
        database.check()
        if not force:
            _require_empty(database.engine)
    finally:
        database.dispose()
    with tempfile.TemporaryDirectory(prefix="patron-restore-") as work:
        opened = _open(settings, path, Path(work), report)
        _check_backend(opened, url)
        if settings.is_sqlite:
            sqlite.database_path(url).parent.mkdir(parents=True, exist_ok=True)
        else:
            with _engine(url) as engine:
                postgres.clear_schema(engine)
        _load(settings, opened, url, report)
    with _engine(url) as engine:
        with engine.connect() as connection:
            sums = _sums(connection, _row_total(opened.manifest), report)
        differences = compare(opened.manifest["tables"], sums)
        if differences:
            names = ", ".join(difference.table for difference in differences)
            raise BackupError(f"The restored database differs from the manifest in: {names}.")
    database = Database(url)
    try:
        migrate.upgrade(database.engine)
        revision = migrate.current_revision(database.engine)
        erased_again = _reapply_erasures(settings, database)
    finally:
        database.dispose()
    return Restored(manifest=opened.manifest, revision=revision, erased_again=erased_again)


def _reapply_erasures(settings: Settings, database: Database) -> int:
    """Erasures made after the backup was taken are in the ledger beside the data directory,
    not in the backup: apply them again, so a restore never brings erased personal data back."""
    from patron.privacy import service as privacy

    with database.unit_of_work() as session:
        return len(privacy.reapply(session, settings.data_dir / privacy.LEDGER_NAME))


def _check_backend(opened: _Opened, url: str) -> None:
    backend = opened.manifest["backend"]
    target = "sqlite" if url.startswith("sqlite") else "postgresql"
    if backend != target:
        raise BackupBackendMismatch(
            f"This is a {backend} backup; it cannot be restored into {target}. Set "
            "PATRON_DATABASE_URL to a database of the same kind."
        )


def _load(settings: Settings, opened: _Opened, url: str, report: Reporter) -> None:
    """Restore the opened backup's database into the (cleared) database at ``url``."""
    _check_backend(opened, url)
    backend = opened.manifest["backend"]
    report("Restoring", 0, None)
    if backend == "sqlite":
        sqlite.copy(opened.database, sqlite.database_path(url))
    else:
        with _engine(url) as engine, engine.connect() as connection:
            major = postgres.server_major(connection)
        tool = postgres.find_tool("pg_restore", major, settings.backup_pg_bin_dir)
        postgres.restore(tool, url, opened.database)
    report("Restoring", 1, 1)


@contextmanager
def _scratch(settings: Settings, opened: _Opened, work: Path) -> Iterator[str]:
    """A new, empty database of the backup's kind, dropped afterwards."""
    if opened.manifest["backend"] == "sqlite":
        yield f"sqlite:///{work / 'scratch.sqlite3'}"
        return
    if settings.is_sqlite:
        raise BackupBackendMismatch(
            "A PostgreSQL backup is verified in a scratch database on a PostgreSQL server: set "
            "PATRON_DATABASE_URL to one (its user needs CREATEDB)."
        )
    url = settings.resolved_database_url
    name = f"patron_verify_{secrets.token_hex(6)}"
    scratch = postgres.create_database(url, name)
    try:
        yield scratch
    finally:
        postgres.drop_database(url, name)


def _require_empty(engine: Engine) -> None:
    with engine.connect() as connection:
        holding = [
            name
            for name in inspect(connection).get_table_names()
            if name not in EMPTY_EXCEPT
            and connection.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first() is not None  # noqa: S608
        ]
    if holding:
        raise DatabaseNotEmpty(
            f"The configured database is not empty (rows in {len(holding)} tables, e.g. "
            f"{', '.join(sorted(holding)[:5])}); restore refuses to overwrite it. Use --force to "
            "replace its whole content with the backup."
        )


def _row_total(manifest: dict[str, Any]) -> int:
    return sum(int(table["rows"]) for table in manifest["tables"].values())


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


# ----- list and prune --------------------------------------------------------------------------
def _order(path: Path) -> tuple[str, int]:
    match = NAME.match(path.name)
    assert match is not None
    return match.group(1), int(match.group(2) or 0)


def list_backups(directory: Path) -> list[Path]:
    """The backups in ``directory``, oldest first (by the time in their names)."""
    if not directory.is_dir():
        return []
    found = [path for path in directory.iterdir() if NAME.match(path.name) and path.is_file()]
    return sorted(found, key=_order)


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest backups (and their ``.sha256`` files)."""
    backups = list_backups(directory)
    removed = backups[: max(0, len(backups) - keep)]
    for path in removed:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".sha256").unlink(missing_ok=True)
    return removed
