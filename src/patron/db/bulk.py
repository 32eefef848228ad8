"""Set-based writes over many rows named by their ids, as the record-keeping asks.

A plain ``UPDATE … WHERE id IN (…)`` skips the ORM, so two things it would have done must be
done here: the id list is cut into chunks (SQLite and drivers cap the parameters of a statement),
and a table with a ``version`` column has it moved on, so a client holding the old version gets a
conflict instead of overwriting the change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Table, update
from sqlalchemy.orm import Session

CHUNK = 500


def chunks(ids: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def update_by_ids(
    session: Session, table: Table, ids: Sequence[Any], values: dict[str, Any]
) -> int:
    """Set ``values`` on the rows of ``table`` whose primary key is in ``ids``; returns how many
    rows changed."""
    key = next(iter(table.primary_key.columns))
    changed = 0
    for chunk in chunks(ids):
        statement = update(table).where(key.in_(chunk)).values(values)
        if "version" in table.c:
            statement = statement.values(version=table.c.version + 1)
        changed += session.execute(statement).rowcount or 0  # type: ignore[attr-defined]
    return changed
