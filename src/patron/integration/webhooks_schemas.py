"""What goes in and out of the webhook routes and pages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from patron.types import ListParams, ReadSchema, RecordRead, Schema, ShortText, Version

EventTypePattern = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=80,
        pattern=r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$",
    ),
]
"""An exact event type (``customer.created``), a prefix (``customer.*``) or ``*`` for all."""
WebhookUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2000)]
EventTypes = Annotated[list[EventTypePattern], Field(min_length=1, max_length=100)]
DeliveryStatus = Literal["pending", "succeeded", "failed"]


class WebhookCreate(Schema):
    url: WebhookUrl
    event_types: EventTypes
    description: ShortText | None = None
    is_active: bool = True


class WebhookUpdate(Schema):
    url: WebhookUrl = None  # type: ignore[assignment]
    event_types: EventTypes = None  # type: ignore[assignment]
    description: ShortText | None = None
    is_active: bool = None  # type: ignore[assignment]
    version: Version | None = None


class WebhookRead(RecordRead):
    url: str
    event_types: list[str]
    description: str | None
    is_active: bool
    consecutive_failures: int
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None


class WebhookWithSecret(WebhookRead):
    """The answer to create and rotate: the only time the secret is shown."""

    secret: str


class WebhookFilter(ListParams):
    is_active: bool | None = None


class AttemptRead(ReadSchema):
    attempt: int
    status_code: int | None
    latency_ms: int
    response_body: str | None
    error: str | None
    attempted_at: datetime


class DeliveryRead(ReadSchema):
    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    entity_id: uuid.UUID
    message_id: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    completed_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptRead]


class DeliveryFilter(ListParams):
    status: DeliveryStatus | None = None


class NoticeRead(ReadSchema):
    id: uuid.UUID
    subscription_id: uuid.UUID | None
    message: str
    created_at: datetime
