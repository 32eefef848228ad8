"""SQLite: copies through the online backup API, which is consistent while the app writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from patron.backup.errors import BackupError


def database_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("Only a SQLite database in a file can be backed up or restored.")
    return Path(database)


def copy(source: Path, target: Path) -> None:
    """Copy ``source`` into ``target`` (replacing its content) with the online backup API.

    All pages are copied in one step under one read transaction, so the copy is the database
    as it was at one moment; in WAL mode the app keeps writing meanwhile.
    """
    with (
        sqlite3.connect(source, timeout=30) as reader,
        sqlite3.connect(target, timeout=30) as writer,
    ):
        reader.backup(writer, pages=-1)
    reader.close()
    writer.close()


def snapshot(url: str, target: Path) -> None:
    """A consistent copy of the configured database in ``target``, as a single file."""
    source = database_path(url)
    if not source.is_file():
        raise BackupError(f"There is no database at {source} to back up.")
    copy(source, target)
    with sqlite3.connect(target) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")
    connection.close()


def version() -> str:
    return sqlite3.sqlite_version
