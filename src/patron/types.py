"""Shared field types for schemas."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


Id = uuid.UUID
UTCDatetime = Annotated[datetime, AfterValidator(_aware)]
"""A datetime; one without an offset is taken as UTC."""
CurrencyCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{3}$", to_upper=True, strip_whitespace=True)
]
CountryCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{2}$", to_upper=True, strip_whitespace=True)
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
# Another system's id for a record: the key imports and ETL upsert by.
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
LongText = Annotated[str, StringConstraints(max_length=100_000)]
MinorUnits = Annotated[int, Field(ge=-(2**62), le=2**62)]
NonNegativeMinorUnits = Annotated[int, Field(ge=0, le=2**62)]
Version = Annotated[int, Field(ge=1, le=2**31)]


class Schema(BaseModel):
    """Input schemas: unknown fields are refused, so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReadSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RecordRead(ReadSchema):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    version: int


class ListParams(Schema):
    """Query parameters every list takes."""

    limit: int = Field(default=25, ge=1, le=100, description="Page size, 1-100.")
    cursor: str | None = Field(default=None, max_length=2000, description="From `next_cursor`.")
    sort: str | None = Field(
        default=None, max_length=40, description="A sort field; prefix with '-' for descending."
    )
