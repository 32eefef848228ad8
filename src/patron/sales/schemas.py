from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from patron.types import (
    CurrencyCode,
    ExternalId,
    ListParams,
    Name,
    NonNegativeMinorUnits,
    RecordRead,
    Schema,
    ShortText,
    UTCDatetime,
    Version,
)

Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
OrderStatus = Literal["pending", "paid", "shipped", "completed", "cancelled", "refunded"]
Percent = Annotated[int, Field(ge=0, le=100)]


# ----- products ------------------------------------------------------------------------------
class ProductCreate(Schema):
    sku: Sku
    name: Name
    category: Category | None = None
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    price_minor: NonNegativeMinorUnits = 0
    currency: CurrencyCode = "USD"
    is_active: bool = True


class ProductUpdate(Schema):
    sku: Sku = None  # type: ignore[assignment]
    name: Name = None  # type: ignore[assignment]
    category: Category | None = None
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    price_minor: NonNegativeMinorUnits = None  # type: ignore[assignment]
    currency: CurrencyCode = None  # type: ignore[assignment]
    is_active: bool = None  # type: ignore[assignment]
    version: Version | None = None


class ProductRead(RecordRead):
    sku: str
    name: str
    category: str | None
    description: str | None
    price_minor: int
    currency: str
    is_active: bool


class ProductFilter(ListParams):
    q: str | None = Field(default=None, max_length=200, description="Matches sku and name.")
    category: Category | None = None
    is_active: bool | None = None


# ----- orders --------------------------------------------------------------------------------
class OrderLineIn(Schema):
    product_id: uuid.UUID
    quantity: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    unit_price_minor: NonNegativeMinorUnits | None = Field(
        default=None, description="Defaults to the product's price."
    )


class OrderLineRead(RecordRead):
    product_id: uuid.UUID
    quantity: int
    unit_price_minor: int


class OrderCreate(Schema):
    customer_id: uuid.UUID
    number: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None
    ) = Field(default=None, description="Generated when left out.")
    status: OrderStatus = "pending"
    ordered_at: UTCDatetime | None = None
    currency: CurrencyCode = "USD"
    external_id: ExternalId | None = None
    lines: list[OrderLineIn] = Field(min_length=1, max_length=1000)


class OrderUpdate(Schema):
    status: OrderStatus = None  # type: ignore[assignment]
    ordered_at: UTCDatetime = None  # type: ignore[assignment]
    currency: CurrencyCode = None  # type: ignore[assignment]
    external_id: ExternalId | None = None
    lines: list[OrderLineIn] = Field(default=None, min_length=1, max_length=1000)  # type: ignore[assignment]
    version: Version | None = None


class OrderRead(RecordRead):
    customer_id: uuid.UUID
    number: str
    status: str
    ordered_at: datetime
    currency: str
    total_minor: int
    external_id: str | None
    lines: list[OrderLineRead]


class OrderFilter(ListParams):
    customer_id: uuid.UUID | None = None
    status: OrderStatus | None = None
    ordered_after: UTCDatetime | None = None
    ordered_before: UTCDatetime | None = None


# ----- pipeline stages -----------------------------------------------------------------------
class PipelineStageCreate(Schema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    position: Annotated[int, Field(ge=0, le=1000)] = 0
    probability: Percent = 0
    is_won: bool = False
    is_lost: bool = False

    @model_validator(mode="after")
    def _not_both(self) -> PipelineStageCreate:
        if self.is_won and self.is_lost:
            raise ValueError("a stage is won or lost, not both")
        return self


class PipelineStageUpdate(Schema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)] = (
        None  # type: ignore[assignment]
    )
    position: Annotated[int, Field(ge=0, le=1000)] = None  # type: ignore[assignment]
    probability: Percent = None  # type: ignore[assignment]
    is_won: bool = None  # type: ignore[assignment]
    is_lost: bool = None  # type: ignore[assignment]
    version: Version | None = None


class PipelineStageRead(RecordRead):
    name: str
    position: int
    probability: int
    is_won: bool
    is_lost: bool


class PipelineStageFilter(ListParams):
    pass


# ----- deals ---------------------------------------------------------------------------------
class DealCreate(Schema):
    customer_id: uuid.UUID
    title: Name
    amount_minor: NonNegativeMinorUnits = 0
    currency: CurrencyCode = "USD"
    stage_id: uuid.UUID | None = Field(default=None, description="Defaults to the first stage.")
    probability: Percent | None = Field(default=None, description="Defaults to the stage's.")
    expected_close_on: date | None = None
    owner_id: uuid.UUID | None = None
    won_reason: ShortText | None = None
    lost_reason: ShortText | None = None
    external_id: ExternalId | None = None


class DealUpdate(Schema):
    title: Name = None  # type: ignore[assignment]
    amount_minor: NonNegativeMinorUnits = None  # type: ignore[assignment]
    currency: CurrencyCode = None  # type: ignore[assignment]
    stage_id: uuid.UUID = None  # type: ignore[assignment]
    probability: Percent = None  # type: ignore[assignment]
    expected_close_on: date | None = None
    owner_id: uuid.UUID | None = None
    won_reason: ShortText | None = None
    lost_reason: ShortText | None = None
    external_id: ExternalId | None = None
    version: Version | None = None


class DealRead(RecordRead):
    customer_id: uuid.UUID
    title: str
    amount_minor: int
    currency: str
    stage_id: uuid.UUID
    probability: int
    expected_close_on: date | None
    closed_at: datetime | None
    owner_id: uuid.UUID | None
    won_reason: str | None
    lost_reason: str | None
    external_id: str | None = None


class DealFilter(ListParams):
    customer_id: uuid.UUID | None = None
    stage_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    open: bool | None = Field(default=None, description="Only deals not yet won or lost.")
    close_after: date | None = None
    close_before: date | None = None


# ----- sales targets -------------------------------------------------------------------------
class SalesTargetCreate(Schema):
    user_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    period_start: date
    period_end: date
    amount_minor: NonNegativeMinorUnits
    currency: CurrencyCode = "USD"

    @model_validator(mode="after")
    def _shape(self) -> SalesTargetCreate:
        if (self.user_id is None) == (self.team_id is None):
            raise ValueError("a target is for one user or one team: give user_id or team_id")
        if self.period_end < self.period_start:
            raise ValueError("period_end lies before period_start")
        return self


class SalesTargetUpdate(Schema):
    period_start: date = None  # type: ignore[assignment]
    period_end: date = None  # type: ignore[assignment]
    amount_minor: NonNegativeMinorUnits = None  # type: ignore[assignment]
    currency: CurrencyCode = None  # type: ignore[assignment]
    version: Version | None = None


class SalesTargetRead(RecordRead):
    user_id: uuid.UUID | None
    team_id: uuid.UUID | None
    period_start: date
    period_end: date
    amount_minor: int
    currency: str


class SalesTargetFilter(ListParams):
    user_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    active_on: date | None = Field(default=None, description="Targets whose period holds this day.")
