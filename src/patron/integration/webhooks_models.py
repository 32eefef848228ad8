"""Webhook tables: subscriptions, one delivery per (event, subscription), the attempt log,
the dispatcher's cursor over the event log, and notices to admins."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from patron.db.base import Base, IdMixin, RecordMixin
from patron.db.types import JSONType, UTCDateTime
from patron.kit.clock import utcnow
from patron.security.crypto_types import EncryptedText

DELIVERY_STATUSES = ("pending", "succeeded", "failed")


class WebhookSubscription(RecordMixin, Base):
    """Where to send which events, and the secret that signs them."""

    __tablename__ = "webhook_subscription"

    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    secret: Mapped[str] = mapped_column(EncryptedText("webhook_subscription.secret"))
    previous_secret: Mapped[str | None] = mapped_column(
        EncryptedText("webhook_subscription.previous_secret")
    )
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(String(300))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(String(300))


class WebhookDelivery(IdMixin, Base):
    """One event for one subscription. ``message_id`` is the stable ``webhook-id``.

    While ``status`` is pending, ``next_attempt_at`` is when it may be sent; a sender that claims it
    moves that time forward by a lease, so a crashed sender's claim runs out and it is sent again.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_order", "subscription_id", "entity_id", "event_position"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscription.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_position: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(80))
    entity_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    message_id: Mapped[str] = mapped_column(String(60))
    body: Mapped[str] = mapped_column(EncryptedText("webhook_delivery.body"))  # the record
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    attempt_log: Mapped[list[WebhookAttempt]] = relationship(
        lazy="raise", order_by="WebhookAttempt.attempt", passive_deletes=True
    )


class WebhookAttempt(IdMixin, Base):
    """The delivery log: one row per try."""

    __tablename__ = "webhook_attempt"

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(
        EncryptedText("webhook_attempt.response_body")
    )
    error: Mapped[str | None] = mapped_column(String(500))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookCursor(Base):
    """How far the dispatcher has read the event log (one row, ``name='dispatcher'``)."""

    __tablename__ = "webhook_cursor"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)


class WebhookNotice(IdMixin, Base):
    """A message for admins (a subscription was disabled), shown on the webhooks page."""

    __tablename__ = "webhook_notice"

    subscription_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_subscription.id", ondelete="CASCADE"), index=True
    )
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
