from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from patron.types import (
    ExternalId,
    ListParams,
    LongText,
    RecordRead,
    Schema,
    ShortText,
    UTCDatetime,
    Version,
)

ActivityType = Literal["call", "email", "meeting", "note", "sms"]
Direction = Literal["inbound", "outbound", "internal"]


class ActivityCreate(Schema):
    customer_id: uuid.UUID
    type: ActivityType
    direction: Direction | None = None
    subject: ShortText | None = None
    body: LongText | None = None
    occurred_at: UTCDatetime | None = Field(default=None, description="Defaults to now.")
    user_id: uuid.UUID | None = Field(default=None, description="Defaults to the caller.")
    deal_id: uuid.UUID | None = None
    ticket_id: uuid.UUID | None = None
    external_id: ExternalId | None = None


class ActivityUpdate(Schema):
    type: ActivityType = None  # type: ignore[assignment]
    direction: Direction | None = None
    subject: ShortText | None = None
    body: LongText | None = None
    occurred_at: UTCDatetime = None  # type: ignore[assignment]
    deal_id: uuid.UUID | None = None
    ticket_id: uuid.UUID | None = None
    external_id: ExternalId | None = None
    version: Version | None = None


class ActivityRead(RecordRead):
    customer_id: uuid.UUID
    type: str
    direction: str | None
    subject: str | None
    body: str | None
    occurred_at: datetime
    user_id: uuid.UUID | None
    deal_id: uuid.UUID | None
    ticket_id: uuid.UUID | None
    external_id: str | None = None


class ActivityFilter(ListParams):
    customer_id: uuid.UUID | None = None
    type: ActivityType | None = None
    user_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None
    ticket_id: uuid.UUID | None = None
    occurred_after: UTCDatetime | None = None
    occurred_before: UTCDatetime | None = None
