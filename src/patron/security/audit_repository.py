"""Every statement the audit trail runs. There is no update or delete of an entry here."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from patron.security.audit_models import AuditEntry, AuditHead
from patron.security.models import User

HEAD_ID = 1


def head(session: Session) -> AuditHead | None:
    """The chain head as committed (refreshed even if the session has it already)."""
    statement = select(AuditHead).where(AuditHead.id == HEAD_ID)
    return session.scalars(statement.execution_options(populate_existing=True)).one_or_none()


def move_head(
    session: Session, current: AuditHead | None, position: int, hash: str, at: datetime
) -> None:
    if current is None:
        session.add(AuditHead(id=HEAD_ID, position=position, hash=hash, updated_at=at))
    else:
        current.position, current.hash, current.updated_at = position, hash, at


def last_at(session: Session, *, action: str, entity: str, entity_id: uuid.UUID) -> datetime | None:
    statement = select(func.max(AuditEntry.occurred_at)).where(
        AuditEntry.entity == entity, AuditEntry.entity_id == entity_id, AuditEntry.action == action
    )
    return session.scalar(statement)


def filtered(filters: Any) -> Any:
    """Entries matching the filters (any attribute left ``None`` does not filter)."""
    statement = select(AuditEntry)
    if getattr(filters, "actor", None) is not None:
        actor = filters.actor
        statement = statement.where(or_(AuditEntry.actor_id == actor, AuditEntry.user_id == actor))
    if getattr(filters, "entity", None):
        statement = statement.where(AuditEntry.entity == filters.entity)
    if getattr(filters, "entity_id", None) is not None:
        statement = statement.where(AuditEntry.entity_id == filters.entity_id)
    if getattr(filters, "action", None):
        statement = statement.where(AuditEntry.action == str(filters.action))
    if getattr(filters, "since", None) is not None:
        statement = statement.where(AuditEntry.occurred_at >= filters.since)
    if getattr(filters, "until", None) is not None:
        statement = statement.where(AuditEntry.occurred_at < filters.until)
    return statement


def newest_first(
    session: Session, filters: Any, *, before_id: int | None, limit: int
) -> list[AuditEntry]:
    statement = filtered(filters)
    if before_id is not None:
        statement = statement.where(AuditEntry.id < before_id)
    return list(session.scalars(statement.order_by(AuditEntry.id.desc()).limit(limit)))


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def in_order(session: Session, *, batch_size: int) -> Iterator[list[AuditEntry]]:
    """Every entry by id, ``batch_size`` at a time (keyset, so memory stays flat)."""
    after = None
    while True:
        statement = select(AuditEntry).order_by(AuditEntry.id).limit(batch_size)
        if after is not None:
            statement = statement.where(AuditEntry.id > after)
        batch = list(session.scalars(statement))
        if not batch:
            return
        yield batch
        after = batch[-1].id
        session.expunge_all()


def position_of_hash(session: Session, hash: str) -> int | None:
    return session.scalar(select(AuditEntry.id).where(AuditEntry.hash == hash).limit(1))


def user_emails(session: Session, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.email).where(User.id.in_(user_ids)))
    return {row.id: row.email for row in rows}
