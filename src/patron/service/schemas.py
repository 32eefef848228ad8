from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from patron.types import ExternalId, ListParams, LongText, RecordRead, Schema, UTCDatetime, Version

TicketStatus = Literal["open", "pending", "resolved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Channel = Literal["email", "phone", "chat", "web", "social", "in_person"]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Score = Annotated[int, Field(ge=1, le=5)]


class TicketCreate(Schema):
    customer_id: uuid.UUID
    subject: Subject
    description: LongText | None = None
    status: TicketStatus = "open"
    priority: Priority = "normal"
    channel: Channel = "email"
    assignee_id: uuid.UUID | None = None
    opened_at: UTCDatetime | None = None
    first_response_at: UTCDatetime | None = None
    resolved_at: UTCDatetime | None = None
    satisfaction_score: Score | None = None
    external_id: ExternalId | None = None


class TicketUpdate(Schema):
    subject: Subject = None  # type: ignore[assignment]
    description: LongText | None = None
    status: TicketStatus = None  # type: ignore[assignment]
    priority: Priority = None  # type: ignore[assignment]
    channel: Channel = None  # type: ignore[assignment]
    assignee_id: uuid.UUID | None = None
    first_response_at: UTCDatetime | None = None
    resolved_at: UTCDatetime | None = None
    satisfaction_score: Score | None = None
    external_id: ExternalId | None = None
    version: Version | None = None


class TicketRead(RecordRead):
    customer_id: uuid.UUID
    subject: str
    description: str | None
    status: str
    priority: str
    channel: str
    assignee_id: uuid.UUID | None
    opened_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    satisfaction_score: int | None
    external_id: str | None = None


class TicketFilter(ListParams):
    customer_id: uuid.UUID | None = None
    status: TicketStatus | None = None
    priority: Priority | None = None
    channel: Channel | None = None
    assignee_id: uuid.UUID | None = None
    opened_after: UTCDatetime | None = None
    opened_before: UTCDatetime | None = None
