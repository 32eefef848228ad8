"""Where a customer's data lives, found from the schema rather than listed by hand.

A table belongs to a customer when it has a foreign key to ``customer.id`` or to a table that
does (an order line through its order); a table that refers to records by ``entity_id`` (the
event log, the audit trail) holds entries about any of them. A new table is found the day it is
added, so neither the export nor the erasure can forget it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, select
from sqlalchemy.orm import Session

from patron.db.bulk import chunks, update_by_ids
from patron.db.models import Base

ROOT = "customer"
REFERENCE_COLUMNS = ("entity_id", "record_id")


@dataclass(frozen=True)
class Link:
    """Rows of ``table`` whose ``column`` holds the id of a ``parent`` row the customer owns."""

    table: Table
    column: Column[Any]
    parent: str


def owned_links(tables: Iterable[Table] | None = None) -> list[Link]:
    """Every (table, column) path from the customer down, breadth first, parents before children."""
    tables = list(tables if tables is not None else Base.metadata.sorted_tables)
    links: list[Link] = []
    frontier, seen = [ROOT], {ROOT}
    while frontier:
        reached: list[str] = []
        for table in tables:
            if table.name == ROOT:
                continue  # a company's people are customers of their own, not its data
            for key in table.foreign_keys:
                if key.column.table.name in frontier and key.column.name == "id":
                    links.append(Link(table, key.parent, key.column.table.name))
                    if table.name not in seen:
                        seen.add(table.name)
                        reached.append(table.name)
        frontier = reached
    return links


def owned_tables(tables: Iterable[Table] | None = None) -> list[str]:
    return list(dict.fromkeys(link.table.name for link in owned_links(tables)))


def reference_tables(tables: Iterable[Table] | None = None) -> list[Table]:
    tables = tables if tables is not None else Base.metadata.sorted_tables
    return [table for table in tables if _reference_column(table) is not None]


def _reference_column(table: Table) -> Column[Any] | None:
    for name in REFERENCE_COLUMNS:
        if name in table.c and table.name != ROOT:
            return table.c[name]
    return None


def reference_children(tables: Iterable[Table] | None = None) -> list[Link]:
    """Tables hanging off a reference table (a webhook delivery's attempts): erased with it."""
    tables = list(tables if tables is not None else Base.metadata.sorted_tables)
    parents = {table.name for table in reference_tables(tables)}
    return [
        Link(table, key.parent, key.column.table.name)
        for table in tables
        for key in table.foreign_keys
        if key.column.table.name in parents
        and key.column.name == "id"
        and table.name not in parents
    ]


def child_rows(session: Session, link: Link, parent_ids: list[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for chunk in chunks(parent_ids):
        statement = select(link.table).where(link.column.in_(chunk))
        rows.extend(dict(row) for row in session.execute(statement).mappings())
    return rows


def customer_row(session: Session, customer_id: uuid.UUID) -> dict[str, Any] | None:
    table = Base.metadata.tables[ROOT]
    row = session.execute(select(table).where(table.c.id == customer_id)).mappings().first()
    return dict(row) if row else None


def owned_rows(session: Session, customer_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row owned by the customer, per table, each row once (a row may be reached twice)."""
    ids: dict[str, list[Any]] = {ROOT: [customer_id]}
    rows: dict[str, dict[Any, dict[str, Any]]] = {}
    for link in owned_links():
        found = rows.setdefault(link.table.name, {})
        for chunk in chunks(ids.get(link.parent, [])):
            statement = select(link.table).where(link.column.in_(chunk))
            for row in session.execute(statement).mappings():
                found.setdefault(_key(link.table, row), dict(row))
        ids[link.table.name] = [row["id"] for row in found.values() if "id" in row]
    return {name: list(found.values()) for name, found in rows.items()}


def _key(table: Table, row: Any) -> tuple[Any, ...]:
    return tuple(row[column.name] for column in table.primary_key.columns)


def reference_rows(
    session: Session, record_ids: list[uuid.UUID]
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for table in reference_tables():
        column = _reference_column(table)
        assert column is not None
        rows: list[dict[str, Any]] = []
        for chunk in chunks(record_ids):
            order = list(table.primary_key.columns)
            statement = select(table).where(column.in_(chunk)).order_by(*order)
            rows.extend(dict(row) for row in session.execute(statement).mappings())
        found[table.name] = rows
    return found


def delete_rows(session: Session, table_name: str, rows: list[dict[str, Any]]) -> int:
    table = Base.metadata.tables[table_name]
    ids = [row["id"] for row in rows]
    deleted = 0
    for chunk in chunks(ids):
        result = session.execute(table.delete().where(table.c.id.in_(chunk)))
        deleted += result.rowcount or 0  # type: ignore[attr-defined]
    return deleted


def overwrite_rows(
    session: Session, table_name: str, rows: list[dict[str, Any]], values: dict[str, Any]
) -> int:
    table = Base.metadata.tables[table_name]
    key = next(iter(table.primary_key.columns)).name
    return update_by_ids(session, table, [row[key] for row in rows], values)


def erased_customer_ids(session: Session, customer_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    table = Base.metadata.tables[ROOT]
    found: set[uuid.UUID] = set()
    for chunk in chunks(customer_ids):
        statement = select(table.c.id).where(table.c.id.in_(chunk), table.c.erased_at.is_not(None))
        found.update(session.scalars(statement))
    return found


def existing_customer_ids(session: Session, customer_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    table = Base.metadata.tables[ROOT]
    found: set[uuid.UUID] = set()
    for chunk in chunks(customer_ids):
        found.update(session.scalars(select(table.c.id).where(table.c.id.in_(chunk))))
    return found


def merged_into(session: Session, customer_id: uuid.UUID) -> list[uuid.UUID]:
    """Customers merged into this one: duplicates of the same person, kept for undo."""
    table = Base.metadata.tables[ROOT]
    statement = select(table.c.id).where(
        table.c.merged_into_id == customer_id, table.c.erased_at.is_(None)
    )
    return list(session.scalars(statement))


def import_files(session: Session, import_ids: list[Any]) -> list[str]:
    """The uploaded and error files kept by these imports."""
    if "import_run" not in Base.metadata.tables or not import_ids:
        return []
    table = Base.metadata.tables["import_run"]
    found: list[str] = []
    for chunk in chunks(list(dict.fromkeys(import_ids))):
        statement = select(table.c.file_path, table.c.error_file).where(table.c.id.in_(chunk))
        for file_path, error_file in session.execute(statement):
            found.extend(path for path in (file_path, error_file) if path)
    return found
