"""Re-encrypt every encrypted value under the current keys, in batches, resumably.

Each batch is its own transaction. A row is pending while any of its encrypted columns holds a
value not sealed with the current data key (older keys, or plain values from before encryption),
so a run that is killed simply leaves rows pending and the next run picks them up. Blind indexes
are recomputed from the plain values in the same statement, so a row's index always matches the
index key current when it was last rewritten. A row changed by someone else between the read and
the write (its stored values moved) is left for the next pass; ``version`` and ``updated_at`` stay
as they are, since a rotation is not an edit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    Text,
    and_,
    bindparam,
    func,
    not_,
    or_,
    select,
    type_coerce,
    update,
)

from patron.db.engine import Database
from patron.security.crypto import DATA, ENVELOPE_VERSION, Keyring
from patron.security.crypto_types import blind_index_columns, encrypted_columns

DEFAULT_BATCH = 500
MAX_PASSES = 10

Progress = Callable[[str, int], None]


@dataclass
class RotationResult:
    key_id: str
    rewritten: dict[str, int] = field(default_factory=dict)
    passes: int = 0
    remaining: int = 0


def encrypted_tables() -> list[Table]:
    from patron.db.models import Base

    return [table for table in Base.metadata.sorted_tables if encrypted_columns(table)]


def _raw(table: Table, name: str) -> ColumnElement[Any]:
    """The stored envelope itself, not run through the decrypting type."""
    return type_coerce(table.c[name], Text())


def pending(table: Table, key_id: str) -> ColumnElement[bool]:
    """Rows holding any value not sealed with ``key_id``."""
    prefix = f"{ENVELOPE_VERSION}:{key_id}:%"
    return or_(
        *(
            and_(table.c[name].is_not(None), not_(_raw(table, name).like(prefix)))
            for name in encrypted_columns(table)
        )
    )


def pending_counts(connection: Connection, key_id: str) -> dict[str, int]:
    return {
        table.name: connection.scalar(
            select(func.count()).select_from(table).where(pending(table, key_id))
        )
        or 0
        for table in encrypted_tables()
    }


def values_under_other_keys(connection: Connection, key_id: str) -> int:
    return sum(pending_counts(connection, key_id).values())


def reencrypt(
    database: Database,
    keyring: Keyring,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> RotationResult:
    """Rewrite every pending row under ``keyring``'s current keys; passes until none is left."""
    result = RotationResult(key_id=keyring.current[DATA])
    for result.passes in range(1, MAX_PASSES + 1):
        moved = 0
        for table in encrypted_tables():
            count = _reencrypt_table(database, keyring, table, batch_size, progress)
            result.rewritten[table.name] = result.rewritten.get(table.name, 0) + count
            moved += count
        with database.engine.connect() as connection:
            result.remaining = values_under_other_keys(connection, result.key_id)
        if result.remaining == 0 or moved == 0:
            break
    return result


def _reencrypt_table(
    database: Database,
    keyring: Keyring,
    table: Table,
    batch_size: int,
    progress: Progress | None,
) -> int:
    names = encrypted_columns(table)
    indexes = blind_index_columns(table)
    contexts = {name: table.c[name].type.context for name in names}  # type: ignore[attr-defined]
    todo = pending(table, keyring.current[DATA])
    kept = {"updated_at": table.c.updated_at} if "updated_at" in table.c else {}
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("row_id"),
            *(
                _raw(table, name).is_not_distinct_from(bindparam(f"old_{name}", type_=Text()))
                for name in names
            ),
        )
        .values(
            {
                **{name: bindparam(f"new_{name}", type_=Text()) for name in [*names, *indexes]},
                **kept,  # a rotation is not a change of the record
            }
        )
    )
    last_id: Any = None
    rewritten = 0
    while True:
        with database.unit_of_work() as session:
            query = select(table.c.id, *(_raw(table, n).label(n) for n in names))
            query = query.where(todo).order_by(table.c.id).limit(batch_size)
            if last_id is not None:
                query = query.where(table.c.id > last_id)
            rows = session.execute(query).mappings().all()
            if not rows:
                return rewritten
            parameters = []
            for row in rows:
                plain = {
                    name: None if row[name] is None else keyring.decrypt(contexts[name], row[name])
                    for name in names
                }
                values = {
                    f"new_{name}": None if value is None else keyring.encrypt(contexts[name], value)
                    for name, value in plain.items()
                }
                for index, (source, kind) in indexes.items():
                    values[f"new_{index}"] = keyring.blind_index(kind, plain[source])
                old = {f"old_{name}": row[name] for name in names}
                parameters.append({"row_id": row["id"], **old, **values})
            count = session.connection().execute(statement, parameters).rowcount
            rewritten += count if count >= 0 else len(rows)
            last_id = rows[-1]["id"]
        if progress is not None:
            progress(table.name, len(rows))
