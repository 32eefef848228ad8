"""Scoped reads with keyset pagination. Every statement the generic service runs is here."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.base import ExecutableOption

from patron.db.base import Base
from patron.errors import ValidationFailed
from patron.kit.pagination import InvalidCursor, decode_cursor, encode_cursor
from patron.security.permissions import Principal

M = TypeVar("M", bound=Base)

ScopeFn = Callable[[Principal], ColumnElement[bool] | None]
FilterFn = Callable[[Select[Any], Any], Select[Any]]


@dataclass(frozen=True)
class Resource(Generic[M]):
    entity: str  # permission entity and URL segment, e.g. "customers"
    event_name: str  # event prefix, e.g. "customer"
    model: type[M]
    sort_fields: Mapping[str, InstrumentedAttribute[Any]]
    default_sort: str = "-created_at"
    scope: ScopeFn | None = None
    apply_filters: FilterFn | None = None
    load_options: Sequence[ExecutableOption] = field(default_factory=tuple)


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    has_more: bool
    next_cursor: str | None


def value_taken(
    session: Session, model: type[M], column: str, value: Any, except_id: uuid.UUID | None = None
) -> bool:
    """Whether another row of ``model`` already holds ``value`` in the unique ``column``."""
    attribute = getattr(model, column)
    statement = select(model.id).where(attribute == value)  # type: ignore[attr-defined]
    if except_id is not None:
        statement = statement.where(model.id != except_id)  # type: ignore[attr-defined]
    return session.scalar(statement.limit(1)) is not None


def value_owners(
    session: Session, model: type[M], column: str, values: set[Any]
) -> dict[Any, uuid.UUID]:
    """The row of ``model`` holding each of ``values`` in the unique ``column`` that one holds
    (``value_taken`` for a batch: one query)."""
    if not values:
        return {}
    attribute = getattr(model, column)
    statement = select(attribute, model.id).where(attribute.in_(values))  # type: ignore[attr-defined]
    return {row[0]: row[1] for row in session.execute(statement)}


def scoped_select(resource: Resource[M], principal: Principal) -> Select[tuple[M]]:
    statement = select(resource.model)
    if resource.scope is not None:
        predicate = resource.scope(principal)
        if predicate is not None:
            statement = statement.where(predicate)
    if resource.load_options:
        statement = statement.options(*resource.load_options)
    return statement


def get_scoped(
    session: Session, resource: Resource[M], principal: Principal, record_id: uuid.UUID
) -> M | None:
    statement = scoped_select(resource, principal).where(
        resource.model.id == record_id  # type: ignore[attr-defined]
    )
    return session.scalars(statement).one_or_none()


def get_scoped_many(
    session: Session, resource: Resource[M], principal: Principal, record_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, M]:
    """Those of ``record_ids`` within the caller's scope, by id: ``get_scoped`` for a batch."""
    if not record_ids:
        return {}
    statement = scoped_select(resource, principal).where(
        resource.model.id.in_(set(record_ids))  # type: ignore[attr-defined]
    )
    return {record.id: record for record in session.scalars(statement)}  # type: ignore[attr-defined]


def _parse_sort(resource: Resource[M], sort: str | None) -> tuple[str, bool]:
    sort = sort or resource.default_sort
    descending = sort.startswith("-")
    name = sort.lstrip("-+")
    if name not in resource.sort_fields:
        allowed = ", ".join(sorted(resource.sort_fields))
        raise ValidationFailed.field(
            "sort",
            f"Unknown sort field {name!r}; use one of {allowed}, '-' for descending.",
            "unknown_sort",
        )
    return name, descending


def _coerce(value: Any, python_type: type) -> Any:
    if value is None:
        return None
    if python_type is datetime:
        return datetime.fromisoformat(value)
    if python_type is date:
        return date.fromisoformat(value)
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    return python_type(value)


def _key(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def keyset(
    statement: Select[Any],
    resource: Resource[M],
    sort: str | None,
    after: tuple[Any, uuid.UUID] | None = None,
) -> Select[Any]:
    """``statement`` in ``sort`` order, ties broken by id, and, given ``after`` (the sort value
    and the id of the last row read), only the rows past that one: a keyset page's query without
    its limit. ``page`` reads records through it; exports read plain rows through it."""
    name, descending = _parse_sort(resource, sort)
    column = resource.sort_fields[name]
    id_column = resource.model.id  # type: ignore[attr-defined]
    if after is not None:
        last, last_id = after
        if column is id_column:
            statement = statement.where(id_column < last_id if descending else id_column > last_id)
        elif descending:
            statement = statement.where(tuple_(column, id_column) < tuple_(last, last_id))
        else:
            statement = statement.where(tuple_(column, id_column) > tuple_(last, last_id))
    if descending:
        return statement.order_by(column.desc(), id_column.desc())
    return statement.order_by(column.asc(), id_column.asc())


def page(
    session: Session,
    statement: Select[tuple[M]],
    resource: Resource[M],
    *,
    sort: str | None,
    limit: int,
    cursor: str | None,
) -> Page[M]:
    name, descending = _parse_sort(resource, sort)
    column = resource.sort_fields[name]
    token = ("-" if descending else "") + name
    after = None
    if cursor:
        try:
            values = decode_cursor(cursor, token)
            after = (_coerce(values[0], column.type.python_type), uuid.UUID(values[1]))
        except (InvalidCursor, ValueError, TypeError, IndexError) as exc:
            message = str(exc) if isinstance(exc, InvalidCursor) else "The cursor is not valid."
            raise ValidationFailed.field("cursor", message, "invalid_cursor") from exc
    statement = keyset(statement, resource, sort, after)
    rows = list(session.scalars(statement.limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if has_more and rows:
        last_row = rows[-1]
        next_cursor = encode_cursor(
            token,
            [_key(getattr(last_row, column.key)), str(last_row.id)],  # type: ignore[attr-defined]
        )
    return Page(items=rows, has_more=has_more, next_cursor=next_cursor)
