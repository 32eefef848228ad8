"""Append events to the log in the same transaction as the change (a transactional outbox).

On PostgreSQL, writers take a transaction-level advisory lock before their first event, so event
positions are handed out in commit order: a reader of the change feed that has seen position N
will never later find a smaller position appear. SQLite serialises writers anyway. The same
transaction sends ``NOTIFY patron_events``, which PostgreSQL delivers on commit only, so live
streams in every app process wake as soon as the change is visible.

Events older than the retention window are pruned by a worker job (``events.prune``); each pass
records how far it went, so a reader resuming from before that point learns it missed events.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, text
from sqlalchemy.orm import Session

from patron.errors import ValidationFailed
from patron.events.models import Event, EventPrune
from patron.kit.clock import utcnow
from patron.security.permissions import Action, Principal

_FEED_LOCK_KEY = 0x5041_5452  # "PATR"
_LOCK_TAKEN = "patron_feed_lock"
NOTIFY_CHANNEL = "patron_events"
MAX_TYPES = 20
_WORD = r"[a-z][a-z0-9_]*"
# "customer.created" (two words or more) or a prefix "customer.*" (one word or more, then ".*")
_TYPE_PATTERN = re.compile(rf"^{_WORD}(\.{_WORD})*(\.{_WORD}|\.\*)$")


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
        # Delivered when (and only if) this transaction commits, once however many events it has.
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
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


@dataclass(frozen=True)
class Change:
    """One event to append with ``record_many``: what ``record`` takes, less the principal."""

    type: str
    entity: str
    entity_id: uuid.UUID
    changed: Iterable[str] = ()
    data: dict[str, Any] | None = None


def record_many(session: Session, principal: Principal, changes: Sequence[Change]) -> None:
    """Append the events of a batch write (an import's batch) in one statement, in order.

    The same rows ``record`` would write one by one, under the same lock; the ids and positions
    are handed out by the column defaults as for ``record``. Nothing is returned: no caller of a
    batch needs the event rows themselves.
    """
    if not changes:
        return
    take_feed_lock(session)
    rows = [
        {
            "type": change.type,
            "entity": change.entity,
            "entity_id": change.entity_id,
            "changed": sorted(change.changed),
            "data": change.data or {},
            "actor_type": principal.actor_type,
            "actor_id": principal.actor_id,
            "occurred_at": utcnow(),
        }
        for change in changes
    ]
    session.execute(insert(Event), rows)


def parse_types(raw: str | None) -> tuple[str, ...]:
    """``customer.created,ticket.*`` as a tuple of patterns; a bad one is a 422 on ``types``."""
    if raw is None or not raw.strip():
        return ()
    patterns = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if len(patterns) > MAX_TYPES:
        raise ValidationFailed.field("types", f"Ask for at most {MAX_TYPES} event types.")
    for pattern in patterns:
        if len(pattern) > 80 or not _TYPE_PATTERN.match(pattern):
            raise ValidationFailed.field(
                "types",
                f"{pattern[:80]!r} is not an event type such as 'customer.created' or a prefix "
                "such as 'customer.*'.",
            )
    return patterns


def _type_condition(patterns: Sequence[str]) -> ColumnElement[bool]:
    exact = [p for p in patterns if not p.endswith(".*")]
    prefixes = [p[:-1] for p in patterns if p.endswith(".*")]  # "customer.*" -> "customer."
    conditions: list[ColumnElement[bool]] = [Event.type.in_(exact)] if exact else []
    conditions += [Event.type.startswith(prefix, autoescape=True) for prefix in prefixes]
    return or_(*conditions)


def list_after(
    session: Session,
    principal: Principal,
    *,
    after: int,
    limit: int,
    entity: str | None = None,
    types: Sequence[str] | None = None,
) -> list[Event]:
    """Events after ``after``, in position (commit) order; ``types`` as from ``parse_types``."""
    principal.require("events", Action.READ)
    return events_after(session, after=after, limit=limit, entity=entity, types=types)


def events_after(
    session: Session,
    *,
    after: int,
    limit: int,
    entity: str | None = None,
    types: Sequence[str] | None = None,
) -> list[Event]:
    """The query behind the feed, without a permission check: callers check their own."""
    statement = select(Event).where(Event.position > after)
    if entity:
        statement = statement.where(Event.entity == entity)
    if types:
        statement = statement.where(_type_condition(types))
    statement = statement.order_by(Event.position).limit(limit)
    return list(session.scalars(statement))


def last_position(session: Session) -> int:
    """The newest position in the log (0 when empty): where a live-only reader starts."""
    newest = session.scalar(select(func.max(Event.position)))
    return int(newest or pruned_through(session))


def pruned_through(session: Session) -> int:
    """Every event at or below this position has been pruned (0 when nothing has been)."""
    return int(session.scalar(select(func.max(EventPrune.through_position))) or 0)


@dataclass(frozen=True)
class PruneResult:
    deleted: int
    through_position: int
    done: bool


def prune_batch(
    session: Session, *, retention: timedelta, batch: int = 10_000, now: datetime | None = None
) -> PruneResult:
    """Delete up to ``batch`` of the oldest events older than ``retention``; record the pass.

    Only a prefix of the log is ever deleted (positions up to the newest expired one), so
    "everything at or below ``through_position`` is gone" holds exactly.
    """
    cutoff = (now or utcnow()) - retention
    expired = (
        select(Event.position)
        .where(Event.occurred_at < cutoff)
        .order_by(Event.position)
        .limit(batch)
        .subquery()
    )
    through = session.scalar(select(func.max(expired.c.position)))
    if through is None:
        return PruneResult(deleted=0, through_position=pruned_through(session), done=True)
    result = session.execute(delete(Event).where(Event.position <= through))
    deleted = int(result.rowcount or 0)  # type: ignore[attr-defined]
    session.add(
        EventPrune(through_position=through, cutoff=cutoff, deleted=deleted, ran_at=utcnow())
    )
    session.flush()
    return PruneResult(deleted=deleted, through_position=int(through), done=deleted < batch)
