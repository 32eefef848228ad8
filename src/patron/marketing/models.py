from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, RecordMixin
from patron.db.types import JSONType, UTCDateTime
from patron.kit.clock import utcnow

CAMPAIGN_STATUSES = ("draft", "scheduled", "running", "completed", "cancelled")
CAMPAIGN_CHANNELS = ("email", "sms", "phone", "social", "direct_mail", "event")


class Segment(RecordMixin, Base):
    __tablename__ = "segment"

    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    source: Mapped[str] = mapped_column(String(30), default="manual")  # manual | rules | analysis


class SegmentMember(RecordMixin, Base):
    __tablename__ = "segment_member"
    __table_args__ = (UniqueConstraint("segment_id", "customer_id"),)

    segment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("segment.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Campaign(RecordMixin, Base):
    __tablename__ = "campaign"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(20), default="email")
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    segment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("segment.id", ondelete="SET NULL"), index=True
    )
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    budget_minor: Mapped[int | None] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3), default="USD")


class CampaignMember(RecordMixin, Base):
    __tablename__ = "campaign_member"
    __table_args__ = (UniqueConstraint("campaign_id", "customer_id"),)

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), default="targeted")
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
