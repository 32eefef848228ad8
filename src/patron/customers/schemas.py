from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import EmailStr, Field, StringConstraints, field_validator, model_validator

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
Score = Annotated[float, Field(ge=0, le=1)]
#: What a customer's read carries from its insight (segment and scores).
INSIGHT_FIELDS = ("segment_name", "p_alive", "expected_purchases", "clv", "churn_risk")
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
    phone_raw: Annotated[str, StringConstraints(max_length=60)] | None = Field(
        default=None, description="The number as first given, when it was cleaned to E.164."
    )
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
    phone_raw: str | None = None
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
    marketing_consent: str
    consent_at: datetime | None
    consent_source: str | None
    erased_at: datetime | None
    merged_into_id: uuid.UUID | None
    segment_name: str | None = Field(default=None, description="From the latest segmentation.")
    p_alive: float | None = Field(default=None, description="P(alive), latest clv run.")
    expected_purchases: float | None = Field(
        default=None, description="Purchases expected over the clv run's horizon."
    )
    clv: float | None = Field(default=None, description="Lifetime value, latest clv run.")
    churn_risk: float | None = Field(default=None, description="P(churn), latest churn run.")

    @model_validator(mode="wrap")
    @classmethod
    def _with_insight(cls, data: Any, handler: Any) -> Any:
        """Segment and scores from the customer's insight, when it was loaded with it (on the
        record, or under ``insight`` in a mapping: exports validate plain rows)."""
        read = handler(data)
        insight = data.get("insight") if isinstance(data, dict) else vars(data).get("insight")
        if insight is not None:
            for name in INSIGHT_FIELDS:
                setattr(read, name, getattr(insight, name))
        return read


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
    churn_risk_min: Score | None = Field(default=None, description="churn_risk at least this.")
    churn_risk_max: Score | None = Field(default=None, description="churn_risk at most this.")
    clv_min: float | None = Field(
        default=None, allow_inf_nan=False, description="clv at least this."
    )
    clv_max: float | None = Field(
        default=None, allow_inf_nan=False, description="clv at most this."
    )
    p_alive_min: Score | None = Field(default=None, description="p_alive at least this.")
    p_alive_max: Score | None = Field(default=None, description="p_alive at most this.")
    created_after: UTCDatetime | None = None
    created_before: UTCDatetime | None = None
    marketing_consent: Literal["opted_in", "opted_out", "unknown"] | None = None
    include_merged: bool = Field(
        default=False, description="Also list customers merged into another (hidden by default)."
    )
    audience_of: uuid.UUID | None = Field(
        default=None,
        description="The audience of this campaign: its members and its segment's members, "
        "without those who opted out of marketing or were erased.",
    )


class ConsentUpdate(Schema):
    marketing_consent: Literal["opted_in", "opted_out"]
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


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
