from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import EmailStr, Field, StringConstraints, field_validator

from patron.types import (
    CountryCode,
    ListParams,
    Name,
    RecordRead,
    Schema,
    UTCDatetime,
    Version,
)

Kind = Literal["person", "company"]
LifecycleStage = Literal["lead", "prospect", "customer", "churned", "other"]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=40, pattern=r"^[0-9+()\-./ x]*$")
]


def _check_custom_fields(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return value
    if len(value) > 100:
        raise ValueError("at most 100 custom fields")
    for key in value:
        if not 1 <= len(key) <= 64:
            raise ValueError("custom field names have 1 to 64 characters")
    if len(repr(value)) > 20_000:
        raise ValueError("custom fields may take at most 20,000 characters")
    return value


class _CustomerFields(Schema):
    kind: Kind = "person"
    name: Name
    email: EmailStr | None = None
    phone: Phone | None = None
    address_line1: Line | None = None
    address_line2: Line | None = None
    city: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    region: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = (
        None
    )
    country: CountryCode | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    lifecycle_stage: LifecycleStage = "lead"
    source: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] | None = None
    external_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = (
        None
    )
    company_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    notes: Annotated[str, StringConstraints(max_length=50_000)] | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)

    _custom = field_validator("custom_fields")(_check_custom_fields)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted(set(value), key=value.index)

    @field_validator("email")
    @classmethod
    def _lower_email(cls, value: str | None) -> str | None:
        return None if value is None else value.lower()


class CustomerCreate(_CustomerFields):
    pass


class CustomerUpdate(_CustomerFields):
    kind: Kind = None  # type: ignore[assignment]
    name: Name = None  # type: ignore[assignment]
    tags: list[Tag] = Field(default=None, max_length=50)  # type: ignore[assignment]
    lifecycle_stage: LifecycleStage = None  # type: ignore[assignment]
    custom_fields: dict[str, Any] = None  # type: ignore[assignment]
    version: Version | None = None


class CustomerRead(RecordRead):
    kind: str
    name: str
    email: str | None
    phone: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None
    tags: list[str]
    lifecycle_stage: str
    source: str | None
    external_id: str | None
    company_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    team_id: uuid.UUID | None
    notes: str | None
    custom_fields: dict[str, Any]


class CustomerFilter(ListParams):
    q: str | None = Field(
        default=None,
        max_length=200,
        description="A part of the name, or an exact email or phone number (no fragments).",
    )
    owner_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    lifecycle_stage: LifecycleStage | None = None
    tag: Tag | None = None
    country: CountryCode | None = None
    kind: Kind | None = None
    company_id: uuid.UUID | None = None
    segment_id: uuid.UUID | None = Field(
        default=None, description="Members of this segment (an analysis segment or a manual one)."
    )
    created_after: UTCDatetime | None = None
    created_before: UTCDatetime | None = None


class TimelineItem(Schema):
    type: Literal["order", "ticket", "activity", "deal"]
    id: uuid.UUID
    at: datetime
    title: str
    status: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class TimelinePage(Schema):
    data: list[TimelineItem]
    has_more: bool
    next_cursor: str | None
