from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base
from patron.db.types import BigIntPK, JSONType, UTCDateTime
from patron.kit.clock import utcnow
from patron.kit.ids import new_id
from patron.security.crypto_types import EncryptedJSON


class Event(Base):
    """One committed change. ``position`` orders the feed; ``id`` is stable for receivers."""

    __tablename__ = "event"

    position: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=new_id)
    type: Mapped[str] = mapped_column(String(80), index=True)
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    changed: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # The record's snapshot holds personal data: encrypted like the record (docs/security.md).
    data: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("event.data"), default=dict)
    actor_type: Mapped[str] = mapped_column(String(20))  # user | api_key | system
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class EventPrune(Base):
    """One pruning pass: every event at or below ``through_position`` is gone.

    Readers compare their position with the highest ``through_position`` to tell a resume that
    can continue from one that lost events to the retention window (the stream's ``gap``).
    """

    __tablename__ = "event_prune"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    through_position: Mapped[int] = mapped_column(BigInteger)
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted: Mapped[int] = mapped_column(Integer)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
