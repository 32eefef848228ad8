"""Row counts and content checksums per table, the same on SQLite and PostgreSQL.

A table's checksum is the sum, modulo 2**256, of the SHA-256 of each row's canonical form, so it
does not depend on the order rows are read in (and a repeated row is counted twice, not
cancelled). A row's canonical form is the JSON array of its values in the order of their
column names, each value written the same way on both backends: UUIDs as 32 lower-case hex
digits, datetimes in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (SQLite's naive values are UTC),
dates ISO, JSON documents with sorted keys, bytes as hex, decimals as plain text. The same
content restored on either backend gives the same checksum. The tables are read through
reflection, so tables this version of Patron does not model (or that another version added) are
covered too.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, MetaData, Table, func, inspect, select, text

MODULUS = 2**256
BATCH = 2000

RowsDone = Callable[[str, int], None]


@dataclass(frozen=True)
class TableSum:
    rows: int
    checksum: str

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "checksum": self.checksum}


def _datetime(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def canonical(value: Any) -> Any:
    """One value in the form both backends agree on (JSON-serialisable)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return _datetime(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(key): canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return str(value)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def row_digest(values: Sequence[Any]) -> int:
    """The digest of one row, its values given in the order of their column names."""
    encoded = _ENCODER.encode([canonical(value) for value in values])
    return int.from_bytes(hashlib.sha256(encoded.encode("utf-8")).digest(), "big")


def reflect(connection: Connection) -> list[Table]:
    """Every table of the database, sorted by name (one reflection pass for all of them)."""
    metadata = MetaData()
    metadata.reflect(bind=connection)
    return [metadata.tables[name] for name in sorted(metadata.tables)]


def count_rows(connection: Connection, tables: list[Table]) -> dict[str, int]:
    return {
        table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
        for table in tables
    }


def table_sum(connection: Connection, table: Table, on_rows: RowsDone | None = None) -> TableSum:
    total, rows = 0, 0
    columns = [table.c[name] for name in sorted(table.c.keys())]
    result = connection.execution_options(yield_per=BATCH).execute(select(*columns))
    for partition in result.partitions():
        for row in partition:
            total = (total + row_digest(row)) % MODULUS
        rows += len(partition)
        if on_rows is not None:
            on_rows(table.name, len(partition))
    return TableSum(rows=rows, checksum=f"{total:064x}")


def database_sums(
    connection: Connection, tables: list[Table] | None = None, on_rows: RowsDone | None = None
) -> dict[str, TableSum]:
    """Every table's row count and checksum, read inside the connection's transaction."""
    return {
        table.name: table_sum(connection, table, on_rows)
        for table in (reflect(connection) if tables is None else tables)
    }


def audit_head(connection: Connection) -> str | None:
    """The ``hash`` of the newest audit entry: where the tamper-evident chain ends."""
    if "audit_entry" not in inspect(connection).get_table_names():
        return None
    value = connection.execute(
        text("SELECT hash FROM audit_entry ORDER BY id DESC LIMIT 1")
    ).scalar()
    return None if value is None else str(value)


def schema_revision(connection: Connection) -> str | None:
    if "alembic_version" not in inspect(connection).get_table_names():
        return None
    value = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)
