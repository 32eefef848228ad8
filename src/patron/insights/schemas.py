from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from patron.types import ListParams, RecordRead, Schema

RunKind = Literal["segmentation", "rules", "clv", "churn", "forecast"]
RunStatus = Literal["pending", "running", "succeeded", "failed"]


class SegmentationParameters(Schema):
    k: Annotated[int, Field(ge=2, le=20)] | Literal["auto"] = "auto"
    k_min: Annotated[int, Field(ge=2, le=20)] = 3
    k_max: Annotated[int, Field(ge=2, le=20)] = 8
    random_state: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    as_of: date | None = Field(default=None, description="Recency is counted to this day.")

    @model_validator(mode="after")
    def _range(self) -> SegmentationParameters:
        if self.k_max < self.k_min:
            raise ValueError("k_max must be at least k_min")
        return self


class RulesParameters(Schema):
    min_support: Annotated[float, Field(gt=0)] = Field(
        default=0.01, description="A fraction (0 < s < 1) or a count of baskets (>= 1)."
    )
    min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.1
    min_lift: Annotated[float, Field(ge=0)] | None = 1.0
    max_len: Annotated[int, Field(ge=2, le=10)] | None = 4


class ClvParameters(Schema):
    """A ``clv`` run: BG/NBD + Gamma-Gamma fitted on the purchases up to ``calibration_end``."""

    calibration_end: date | None = Field(
        default=None, description="The as-of day: purchases up to it count (default: the last)."
    )
    time_unit: Literal["day", "week", "month"] = "week"
    horizon: Annotated[int, Field(ge=1, le=120)] = Field(
        default=12, description="Periods ahead for expected purchases and CLV."
    )
    period: Literal["day", "week", "month"] = Field(
        default="month", description="The unit of the horizon and of the discount rate."
    )
    discount_rate: Annotated[float, Field(ge=0, lt=1)] = Field(
        default=0.01, description="Per period: 0.01 a month is about 12.7% a year."
    )
    holdout_days: Annotated[int, Field(ge=0, le=3650)] = Field(
        default=180,
        description="Days before calibration_end held out to validate a separate fit (0: none).",
    )
    penalizer: Annotated[float, Field(ge=0, le=10)] = 0.0


class ChurnParameters(Schema):
    """A ``churn`` run: gradient boosting against the recency baseline, temporal split."""

    as_of: date | None = Field(
        default=None, description="Risk is scored as of this day (default: the last purchase)."
    )
    horizon_days: Annotated[int, Field(ge=7, le=730)] = Field(
        default=90, description="Churned: no purchase in this many days after the cutoff."
    )
    threshold: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.5, description="Risk from which a customer counts as churning (precision/recall)."
    )
    random_state: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


class RunCreate(Schema):
    kind: RunKind
    parameters: dict[str, Any] = Field(default_factory=dict)


class RunRead(RecordRead):
    kind: str
    parameters: dict[str, Any]
    status: RunStatus
    data_fingerprint: str | None
    created_by: uuid.UUID | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    progress: float
    metrics: dict[str, Any]
    results: dict[str, Any]
    error: str | None


class RunFilter(ListParams):
    kind: RunKind | None = None
    status: RunStatus | None = None


class RecommendedProduct(Schema):
    product_id: uuid.UUID
    sku: str
    name: str
    score: float
    confidence: float
    lift: float
    support: float
    because_of: list[str] = Field(description="Names of the products that fire the rule.")
    rule: str


class RecommendationList(Schema):
    data: list[RecommendedProduct]
    run_id: uuid.UUID | None
