"""Append events to the log in the same transaction as the change (a transactional outbox).

On PostgreSQL, writers take a transaction-level advisory lock before their first event, so event
positions are handed out in commit order: a reader of the change feed that has seen position N
will never later find a smaller position appear. SQLite serialises writers anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from patron.events.models import Event
from patron.kit.clock import utcnow
from patron.security.permissions import Action, Principal

_FEED_LOCK_KEY = 0x5041_5452  # "PATR"
_LOCK_TAKEN = "patron_feed_lock"


def take_feed_lock(session: Session) -> None:
    """Serialise this transaction's log writes with every other writer's, until it ends.

    The event log and the audit trail both hand out positions under this one lock, so both
    follow commit order.
    """
    transaction = session.get_transaction()
    if transaction is not None and session.info.get(_LOCK_TAKEN) is transaction:
        return  # this transaction holds the lock already
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FEED_LOCK_KEY})
    session.info[_LOCK_TAKEN] = session.get_transaction()


def record(
    session: Session,
    principal: Principal,
    *,
    type: str,
    entity: str,
    entity_id: uuid.UUID,
    changed: Iterable[str] = (),
    data: dict[str, Any] | None = None,
) -> Event:
    take_feed_lock(session)
    event = Event(
        type=type,
        entity=entity,
        entity_id=entity_id,
        changed=sorted(changed),
        data=data or {},
        actor_type=principal.actor_type,
        actor_id=principal.actor_id,
        occurred_at=utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def list_after(
    session: Session, principal: Principal, *, after: int, limit: int, entity: str | None = None
) -> list[Event]:
    principal.require("events", Action.READ)
    statement = select(Event).where(Event.position > after)
    if entity:
        statement = statement.where(Event.entity == entity)
    statement = statement.order_by(Event.position).limit(limit)
    return list(session.scalars(statement))
