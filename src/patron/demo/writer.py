"""Bulk inserts that keep up with numpy: SQLite ``executemany``, PostgreSQL ``COPY``, else Core.

Columns arrive in one canonical form, whatever the database: ids as 32 hex digits, datetimes as
naive-UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` text, dates as ``YYYY-MM-DD``, JSON as text. That is
byte for byte what SQLAlchemy itself stores on SQLite, so SQLite takes the values as they are;
PostgreSQL's COPY parses the same text into ``uuid``, ``timestamptz`` (with ``+00`` appended) and
``jsonb``; any other database gets Python objects through SQLAlchemy Core.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from queue import Empty, Queue
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Date,
    Table,
    Uuid,
    func,
    insert,
    literal_column,
    select,
    text,
)

from patron.db.types import UTCDateTime
from patron.security.crypto_types import EncryptedJSON, encode_bulk_columns

Column = Sequence[Any] | np.ndarray
T = TypeVar("T")
BATCH_ROWS = 50_000
SMALL_TABLE = 50_000  # rows; below this a table's indexes are rebuilt after the load


_INDEXES = text(
    "SELECT name, sql FROM sqlite_master "
    "WHERE type = 'index' AND tbl_name = :table AND sql IS NOT NULL"
)


def _kind(table: Table, name: str) -> str:
    column_type = table.c[name].type
    if isinstance(column_type, UTCDateTime):
        return "datetime"
    if isinstance(column_type, Uuid):
        return "uuid"
    if isinstance(column_type, Date):
        return "date"
    if isinstance(column_type, JSON | EncryptedJSON):
        return "json"
    if isinstance(column_type, Boolean):
        return "bool"
    return "plain"


def _as_list(values: Column) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


class BulkWriter:
    """Inserts column-wise data into one connection's open transaction; counts what it wrote."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name
        driver = connection.dialect.driver
        self._copy = self.dialect == "postgresql" and driver == "psycopg"
        self.counts: dict[str, int] = {}

    @contextmanager
    def fast_sqlite(self, cache_mib: int = 64) -> Iterator[None]:
        """On SQLite, while loading: a larger page cache, and helper threads for index sorts.

        Both are settings of this connection only, put back when the load ends.
        """
        if self.dialect != "sqlite":
            yield
            return
        settings = {"cache_size": -int(cache_mib) * 1024, "threads": os.cpu_count() or 1}
        previous = {
            name: self.connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in settings
        }
        for name, value in settings.items():
            self.connection.exec_driver_sql(f"PRAGMA {name} = {int(value)}")
        try:
            yield
        finally:
            for name, value in previous.items():
                self.connection.exec_driver_sql(f"PRAGMA {name} = {int(value or 0)}")

    @contextmanager
    def deferred_indexes(self, tables: Sequence[Table]) -> Iterator[None]:
        """On SQLite, drop the secondary indexes of (nearly) empty tables and rebuild them after.

        Building an index once from sorted data is about twice as fast as growing it row by
        row. Each index is re-created from the statement SQLite itself kept (``sqlite_master``),
        so it returns exactly as the migrations made it, in the same transaction: if the load
        fails, the rollback restores it. Primary keys and unique constraints are left alone.
        Readers are not disturbed: in WAL mode they see the last committed state throughout.
        (PostgreSQL is left as it is: its ``COPY`` is fast, and a dropped index would lock the
        table against readers until the load commits.)
        """
        if self.dialect != "sqlite":
            yield
            return
        preparer = self.connection.dialect.identifier_preparer
        saved: list[str] = []
        for table in tables:
            sample = select(literal_column("1")).select_from(table).limit(SMALL_TABLE).subquery()
            if self.connection.scalar(select(func.count()).select_from(sample)) >= SMALL_TABLE:
                continue
            indexes = self.connection.execute(_INDEXES, {"table": table.name}).all()
            for name, statement in indexes:
                self.connection.exec_driver_sql(f"DROP INDEX {preparer.quote(name)}")
                saved.append(statement)
        yield
        for statement in saved:
            self.connection.exec_driver_sql(statement)

    def insert(self, table: Table, columns: Mapping[str, Column]) -> int:
        """Insert the rows given as equal-length columns; returns how many."""
        names = list(columns)
        lengths = {len(columns[name]) for name in names}
        if len(lengths) != 1:
            raise ValueError(f"columns of {table.name} differ in length: {sorted(lengths)}")
        n = lengths.pop()
        if n:
            if self.dialect == "sqlite" or self._copy:
                # These paths bypass column types: seal encrypted columns, fill blind indexes.
                columns = encode_bulk_columns(table, columns)
                names = list(columns)
            names, values = self._complete(table, names, [columns[name] for name in names], n)
            for start in range(0, n, BATCH_ROWS):
                batch = [_as_list(v[start : start + BATCH_ROWS]) for v in values]
                if self.dialect == "sqlite":
                    self._executemany(table, names, batch)
                elif self._copy:
                    self._copy_rows(table, names, batch)
                else:
                    self._core(table, names, batch)
        self.counts[table.name] = self.counts.get(table.name, 0) + n
        return n

    def _complete(
        self, table: Table, names: list[str], values: list[Column], n: int
    ) -> tuple[list[str], list[Column]]:
        """Add columns the generator left out: scalar defaults, or refuse for required ones."""
        unknown = set(names) - set(table.c.keys())
        if unknown:
            raise ValueError(f"{table.name} has no column(s) {sorted(unknown)}")
        for column in table.c:
            if column.name in names:
                continue
            default = column.default
            if default is not None and default.is_scalar:
                names = [*names, column.name]
                values = [*values, [default.arg] * n]  # type: ignore[attr-defined]
            elif not column.nullable and column.server_default is None:
                if column.autoincrement is True or (column.primary_key and default is None):
                    continue
                raise ValueError(f"the demo generator gives no value for {table.name}.{column}")
        return names, values

    def _executemany(self, table: Table, names: list[str], batch: list[list[Any]]) -> None:
        preparer = self.connection.dialect.identifier_preparer
        column_list = ", ".join(preparer.quote(name) for name in names)
        marks = ", ".join("?" for _ in names)
        # Identifiers come from the table metadata, quoted by the dialect; values are bound.
        table_name = preparer.format_table(table)
        statement = f"INSERT INTO {table_name} ({column_list}) VALUES ({marks})"  # noqa: S608
        self.connection.exec_driver_sql(statement, list(zip(*batch, strict=True)))

    def _copy_rows(self, table: Table, names: list[str], batch: list[list[Any]]) -> None:
        """COPY in text format: one tab-separated line per row, written a batch at a time."""
        preparer = self.connection.dialect.identifier_preparer
        fields = [
            _copy_texts(column, utc=_kind(table, name) == "datetime")
            for name, column in zip(names, batch, strict=True)
        ]
        data = "".join(line + "\n" for line in map("\t".join, zip(*fields, strict=True)))
        column_list = ", ".join(preparer.quote(name) for name in names)
        statement = f"COPY {preparer.format_table(table)} ({column_list}) FROM STDIN"
        driver_connection: Any = self.connection.connection.driver_connection
        with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            copy.write(data)

    def _core(self, table: Table, names: list[str], batch: list[list[Any]]) -> None:
        converted = [
            [_to_python(_kind(table, name), v) for v in column]
            for name, column in zip(names, batch, strict=True)
        ]
        rows = [dict(zip(names, row, strict=True)) for row in zip(*converted, strict=True)]
        self.connection.execute(insert(table), rows)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_texts(values: list[Any], *, utc: bool) -> list[str]:
    """One column in COPY's text format: ``\\N`` for NULL, ``t``/``f``, escaped text."""
    present = [value for value in values if value is not None]
    if not present:
        return ["\\N"] * len(values)
    if isinstance(present[0], bool):
        texts = ["t" if value else "f" for value in present]
    elif isinstance(present[0], str):
        texts = present
        joined = "".join(present)
        if any(ch in joined for ch in "\\\t\n\r"):
            texts = [value.translate(_COPY_ESCAPES) for value in present]
        if utc:
            texts = [value + "+00" for value in texts]
    else:
        texts = [str(value) for value in present]
    if len(present) == len(values):
        return texts
    filled = iter(texts)
    return ["\\N" if value is None else next(filled) for value in values]


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` ahead of the consumer.

    The database spends much of an insert outside the GIL, so the next chunk is generated while
    the current one is written. Errors in the producer are raised in the consumer.
    """
    queue: Queue[tuple[bool, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                queue.put((True, item))
            queue.put((False, None))
        except BaseException as exc:  # handed to the consumer
            queue.put((False, exc))

    worker = threading.Thread(target=produce, name="demo-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            more, item = queue.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            with suppress(Empty):
                queue.get(timeout=0.1)


def _to_python(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "uuid":
        return uuid.UUID(hex=value)
    if kind == "datetime":
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "json":
        return json.loads(value)
    if kind == "bool":
        return bool(value)
    return value
