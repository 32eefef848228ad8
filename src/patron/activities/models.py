from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, RecordMixin
from patron.db.types import UTCDateTime
from patron.kit.clock import utcnow
from patron.security.crypto_types import EncryptedText

ACTIVITY_TYPES = ("call", "email", "meeting", "note", "sms")
DIRECTIONS = ("inbound", "outbound", "internal")


class Activity(RecordMixin, Base):
    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_customer_occurred", "customer_id", "occurred_at"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str | None] = mapped_column(String(20))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(EncryptedText("activity.body"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    deal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deal.id", ondelete="SET NULL"), index=True
    )
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ticket.id", ondelete="SET NULL"), index=True
    )
    external_id: Mapped[str | None] = mapped_column(String(120), unique=True)
