"""A customer's orders, tickets, activities and deals as one feed, newest first.

Each source is read with the same keyset bound and merged, so a page costs four indexed reads
whatever the history's length.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from patron.activities.models import Activity
from patron.customers import repository
from patron.customers.service import customers
from patron.errors import ValidationFailed
from patron.kit.clock import as_utc
from patron.kit.pagination import InvalidCursor, decode_cursor, encode_cursor
from patron.sales.models import Deal, Order
from patron.security.permissions import Action, Principal
from patron.service.models import Ticket

_SORT = "timeline"


def _sources() -> list[tuple[str, str, Any, Any]]:
    """Each kind of entry: its name, the permission entity, its table and its time column."""
    return [
        ("order", "orders", Order, Order.ordered_at),
        ("ticket", "tickets", Ticket, Ticket.opened_at),
        ("activity", "activities", Activity, Activity.occurred_at),
        ("deal", "deals", Deal, Deal.created_at),
    ]


def _item(kind: str, record: Any, stages: dict[uuid.UUID, str]) -> dict[str, Any]:
    if kind == "order":
        return {
            "type": kind,
            "id": record.id,
            "at": record.ordered_at,
            "title": f"Order {record.number}",
            "status": record.status,
            "amount_minor": record.total_minor,
            "currency": record.currency,
        }
    if kind == "ticket":
        return {
            "type": kind,
            "id": record.id,
            "at": record.opened_at,
            "title": record.subject,
            "status": record.status,
            "detail": {"priority": record.priority, "channel": record.channel},
        }
    if kind == "activity":
        return {
            "type": kind,
            "id": record.id,
            "at": record.occurred_at,
            "title": record.subject or record.type.capitalize(),
            "status": record.type,
            "detail": {"direction": record.direction},
        }
    return {
        "type": kind,
        "id": record.id,
        "at": record.created_at,
        "title": record.title,
        "status": stages.get(record.stage_id),
        "amount_minor": record.amount_minor,
        "currency": record.currency,
        "detail": {"probability": record.probability},
    }


def timeline(
    session: Session,
    principal: Principal,
    customer_id: uuid.UUID,
    *,
    limit: int = 25,
    cursor: str | None = None,
    types: set[str] | None = None,
) -> dict[str, Any]:
    customers.get(session, principal, customer_id)  # 404 outside the caller's scope
    bound: tuple[datetime, str, uuid.UUID] | None = None
    if cursor:
        try:
            at, key = decode_cursor(cursor, _SORT)
            bound_kind, _, raw_id = str(key).partition(":")
            bound = (as_utc(datetime.fromisoformat(at)), bound_kind, uuid.UUID(raw_id))
        except (InvalidCursor, ValueError, TypeError) as exc:
            raise ValidationFailed.field(
                "cursor", "The cursor is not valid.", "invalid_cursor"
            ) from exc
    rows: list[tuple[datetime, str, str, Any]] = []
    for kind, entity, model, column in _sources():
        if (types and kind not in types) or not principal.can(entity, Action.READ):
            continue
        statement = repository.timeline_entries(
            model, column, kind, customer_id, bound=bound, limit=limit + 1
        )
        for record in session.scalars(statement):
            rows.append((as_utc(getattr(record, column.key)), kind, str(record.id), record))
    rows.sort(key=lambda row: (row[0], row[1], row[2]), reverse=True)
    has_more = len(rows) > limit
    rows = rows[:limit]
    stages = repository.stage_names(session, {row[3].stage_id for row in rows if row[1] == "deal"})
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(_SORT, [last[0].isoformat(), f"{last[1]}:{last[2]}"])
    return {
        "data": [_item(kind, record, stages) for _, kind, _, record in rows],
        "has_more": has_more,
        "next_cursor": next_cursor,
    }
