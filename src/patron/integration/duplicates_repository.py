"""Queries for duplicate review and merging. What belongs to a customer is found from the schema:
every foreign key to ``customer.id``, so a table added later moves with its customer too."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, Select, Table, and_, delete, exists, select
from sqlalchemy.orm import Session, aliased

from patron.customers.models import Customer
from patron.customers.repository import visible_customer_ids
from patron.db.bulk import chunks, update_by_ids
from patron.db.models import Base
from patron.integration.duplicates_models import CustomerMerge, DuplicatePair
from patron.security.permissions import Principal

# Foreign keys to customers that describe the customer itself rather than something it owns.
NOT_MOVED = {("customer", "merged_into_id"), ("customer_merge", "survivor_id"),
             ("customer_merge", "merged_id"), ("duplicate_pair", "left_id"),
             ("duplicate_pair", "right_id")}  # fmt: skip


def customer_links() -> list[tuple[Table, Column[Any]]]:
    links = []
    for table in Base.metadata.sorted_tables:
        for key in table.foreign_keys:
            target = key.column
            to_customer = target.table.name == "customer" and target.name == "id"
            if to_customer and (table.name, key.parent.name) not in NOT_MOVED:
                links.append((table, key.parent))
    return links


def _unique_partners(table: Table, column: Column[Any]) -> list[list[Column[Any]]]:
    """For each unique constraint or index holding ``column``: its other columns."""
    groups: list[list[Column[Any]]] = []
    constraints = [c for c in table.constraints if c.__class__.__name__ == "UniqueConstraint"]
    for constraint in constraints:
        columns = list(constraint.columns)  # type: ignore[attr-defined]
        if column in columns:
            groups.append([c for c in columns if c is not column])
    for index in table.indexes:
        if index.unique and column in index.columns:
            groups.append([c for c in index.columns if c is not column])
    if column.unique:
        groups.append([])
    return groups


def movable_ids(
    session: Session,
    table: Table,
    column: Column[Any],
    merged_id: uuid.UUID,
    survivor_id: uuid.UUID,
) -> list[Any]:
    """Rows of the merged customer that can move without breaking a unique constraint (a row
    whose twin the survivor already has stays behind with the merged record)."""
    key = next(iter(table.primary_key.columns))
    statement = select(key).where(column == merged_id)
    for partners in _unique_partners(table, column):
        twin = table.alias("twin")
        same = [twin.c[column.name] == survivor_id]
        same += [twin.c[other.name] == other for other in partners]
        statement = statement.where(~exists().where(and_(*same)))
    return list(session.scalars(statement))


def repoint(
    session: Session, column: Column[Any], ids: list[Any], to: uuid.UUID, table: Table
) -> int:
    return update_by_ids(session, table, ids, {column.name: to})


def open_pairs(threshold: float, principal: Principal) -> Select[tuple[DuplicatePair]]:
    """Open pairs at or above ``threshold`` whose two customers are still live and both within
    the caller's scope."""
    left, right = aliased(Customer), aliased(Customer)
    statement = (
        select(DuplicatePair)
        .join(left, left.id == DuplicatePair.left_id)
        .join(right, right.id == DuplicatePair.right_id)
        .where(
            DuplicatePair.status == "open",
            DuplicatePair.score >= threshold,
            left.merged_into_id.is_(None),
            right.merged_into_id.is_(None),
        )
    )
    visible = visible_customer_ids(principal)
    if visible is not None:
        statement = statement.where(
            DuplicatePair.left_id.in_(visible), DuplicatePair.right_id.in_(visible)
        )
    return statement


def customers_by_id(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, Customer]:
    if not ids:
        return {}
    found = session.scalars(select(Customer).where(Customer.id.in_(ids)))
    return {customer.id: customer for customer in found}


def pair_keys(session: Session) -> dict[tuple[uuid.UUID, uuid.UUID], DuplicatePair]:
    pairs = session.scalars(select(DuplicatePair))
    return {(pair.left_id, pair.right_id): pair for pair in pairs}


def delete_open_pairs_not_in(session: Session, keep: Iterable[uuid.UUID]) -> None:
    session.execute(
        delete(DuplicatePair).where(
            DuplicatePair.status == "open", DuplicatePair.id.not_in(list(keep))
        )
    )


def pairs_of(session: Session, customer_ids: list[uuid.UUID]) -> list[DuplicatePair]:
    statement = select(DuplicatePair).where(
        DuplicatePair.left_id.in_(customer_ids) | DuplicatePair.right_id.in_(customer_ids)
    )
    return list(session.scalars(statement))


def merge_record(session: Session, merge_id: uuid.UUID) -> CustomerMerge | None:
    return session.get(CustomerMerge, merge_id)


def still_pointing(
    session: Session, table: Table, column: Column[Any], ids: list[str], to: uuid.UUID
) -> list[Any]:
    """Of the rows a merge moved, those that still belong to the survivor."""
    key = next(iter(table.primary_key.columns))
    wanted = [uuid.UUID(i) for i in ids]
    found: list[Any] = []
    for chunk in chunks(wanted):
        statement = select(key).where(key.in_(chunk), column == to)
        found.extend(session.scalars(statement))
    return found
