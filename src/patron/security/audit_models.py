"""The audit trail's tables: ``audit_entry`` (append-only, hash-chained) and its head.

``audit_entry.id`` is the chain position, handed out as the previous id plus one while the
writer holds the event log's lock, so ids are gap-free and follow commit order. ``hash`` is the
hex SHA-256 of the entry's canonical serialisation, which includes ``prev_hash`` (the hash of
entry ``id - 1``; 64 zeros for the first). ``audit_head`` is a one-row checkpoint of the last
position and hash, written in the same transaction, so removing entries from the end of the
chain is detected too.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base
from patron.db.types import BigIntPK, JSONType, UTCDateTime


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_entity_entity_id", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_type: Mapped[str] = mapped_column(String(20))  # user | api_key | system | anonymous
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)  # user or API key
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)  # the key's user, too
    action: Mapped[str] = mapped_column(String(40), index=True)
    entity: Mapped[str | None] = mapped_column(String(40))
    entity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType)  # field -> {before, after}
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row (``id = 1``): the position and hash of the last entry written."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
