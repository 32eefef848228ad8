"""Every statement the webhook service and dispatcher run."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, insert, select, update
from sqlalchemy.orm import Session, aliased, selectinload

from patron.integration.webhooks_models import (
    WebhookAttempt,
    WebhookCursor,
    WebhookDelivery,
    WebhookNotice,
    WebhookSubscription,
)

DISPATCHER = "dispatcher"


def subscription_filters(statement: Select[Any], filters: Any) -> Select[Any]:
    if getattr(filters, "is_active", None) is not None:
        statement = statement.where(WebhookSubscription.is_active == filters.is_active)
    return statement


def delivery_filters(statement: Select[Any], filters: Any) -> Select[Any]:
    if getattr(filters, "status", None) is not None:
        statement = statement.where(WebhookDelivery.status == filters.status)
    return statement


def deliveries_of(subscription_id: uuid.UUID) -> Select[tuple[WebhookDelivery]]:
    return (
        select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id)
        .options(selectinload(WebhookDelivery.attempt_log))
    )


def delivery(
    session: Session, subscription_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery | None:
    statement = deliveries_of(subscription_id).where(WebhookDelivery.id == delivery_id)
    return session.scalars(statement).one_or_none()


def notices(session: Session, limit: int = 50) -> list[WebhookNotice]:
    statement = select(WebhookNotice).order_by(WebhookNotice.created_at.desc()).limit(limit)
    return list(session.scalars(statement))


# ----- the dispatcher --------------------------------------------------------------------------
def cursor(session: Session) -> WebhookCursor:
    """The dispatcher's cursor, locked for this transaction (created at 0 the first time)."""
    statement = select(WebhookCursor).where(WebhookCursor.name == DISPATCHER)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    found = session.scalars(statement).one_or_none()
    if found is None:
        found = WebhookCursor(name=DISPATCHER, position=0)
        session.add(found)
        session.flush()
    return found


def active_subscriptions(session: Session) -> list[WebhookSubscription]:
    statement = select(WebhookSubscription).where(WebhookSubscription.is_active.is_(True))
    return list(session.scalars(statement))


def subscriptions_by_id(
    session: Session, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, WebhookSubscription]:
    wanted = set(ids)
    if not wanted:
        return {}
    statement = select(WebhookSubscription).where(WebhookSubscription.id.in_(wanted))
    return {row.id: row for row in session.scalars(statement)}


def claim_due(
    session: Session, *, now: datetime, lease_until: datetime, limit: int
) -> list[WebhookDelivery]:
    """Pending deliveries that are due, whose subscription is active and that no earlier pending
    delivery for the same record and subscription holds back; leased until ``lease_until``."""
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(
        earlier.subscription_id == WebhookDelivery.subscription_id,
        earlier.entity_id == WebhookDelivery.entity_id,
        earlier.event_position < WebhookDelivery.event_position,
        earlier.status == "pending",
    )
    statement = (
        select(WebhookDelivery)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            WebhookSubscription.is_active.is_(True),
            ~blocked,
        )
        .order_by(WebhookDelivery.event_position, WebhookDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(of=WebhookDelivery, skip_locked=True)
    rows = list(session.scalars(statement))
    if rows:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_([row.id for row in rows]))
            .values(next_attempt_at=lease_until)
            .execution_options(synchronize_session=False)
        )
    return rows


def delivery_states(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """What the sender needs to move deliveries on, as plain rows."""
    statement = select(
        WebhookDelivery.id,
        WebhookDelivery.subscription_id,
        WebhookDelivery.attempts,
        WebhookDelivery.window_started_at,
    ).where(WebhookDelivery.id.in_(set(ids)))
    return {row.id: row for row in session.execute(statement)}


def save_outcomes(
    session: Session, changes: list[dict[str, Any]], attempts: list[dict[str, Any]]
) -> None:
    """Bulk: new delivery states (grouped by the columns they set) and the attempt log rows."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        groups.setdefault(tuple(sorted(change)), []).append(change)
    for group in groups.values():
        session.execute(update(WebhookDelivery), group)
    if attempts:
        session.execute(insert(WebhookAttempt), attempts)


def add_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(WebhookDelivery), rows)
