from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from patron.types import (
    CurrencyCode,
    ListParams,
    LongText,
    NonNegativeMinorUnits,
    RecordRead,
    Schema,
    Version,
)

CampaignStatus = Literal["draft", "scheduled", "running", "completed", "cancelled"]
CampaignChannel = Literal["email", "sms", "phone", "social", "direct_mail", "event"]
MemberStatus = Literal[
    "targeted", "sent", "opened", "clicked", "responded", "converted", "opted_out"
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
SegmentName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class SegmentCreate(Schema):
    name: SegmentName
    description: LongText | None = None
    rules: dict[str, Any] = Field(default_factory=dict)


class SegmentUpdate(Schema):
    name: SegmentName = None  # type: ignore[assignment]
    description: LongText | None = None
    rules: dict[str, Any] = None  # type: ignore[assignment]
    version: Version | None = None


class SegmentRead(RecordRead):
    name: str
    description: str | None
    rules: dict[str, Any]
    source: str


class SegmentFilter(ListParams):
    q: str | None = Field(default=None, max_length=200)


class CampaignCreate(Schema):
    name: Title
    description: LongText | None = None
    channel: CampaignChannel = "email"
    status: CampaignStatus = "draft"
    segment_id: uuid.UUID | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    budget_minor: NonNegativeMinorUnits | None = None
    currency: CurrencyCode = "USD"


class CampaignUpdate(Schema):
    name: Title = None  # type: ignore[assignment]
    description: LongText | None = None
    channel: CampaignChannel = None  # type: ignore[assignment]
    status: CampaignStatus = None  # type: ignore[assignment]
    segment_id: uuid.UUID | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    budget_minor: NonNegativeMinorUnits | None = None
    currency: CurrencyCode = None  # type: ignore[assignment]
    version: Version | None = None


class CampaignRead(RecordRead):
    name: str
    description: str | None
    channel: str
    status: str
    segment_id: uuid.UUID | None
    starts_on: date | None
    ends_on: date | None
    budget_minor: int | None
    currency: str


class CampaignFilter(ListParams):
    q: str | None = Field(default=None, max_length=200)
    status: CampaignStatus | None = None
    channel: CampaignChannel | None = None


class MembersAdd(Schema):
    customer_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


class MemberRead(RecordRead):
    customer_id: uuid.UUID
    status: str | None = None
    added_at: datetime | None = None


class MembersChange(Schema):
    added: int
    already_members: int
    excluded_no_consent: int = Field(
        default=0, description="Campaigns only: customers left out because they opted out."
    )
