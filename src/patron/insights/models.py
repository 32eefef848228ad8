from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin, RecordMixin
from patron.db.types import JSONType, UTCDateTime

RUN_KINDS = ("segmentation", "rules", "clv", "churn", "forecast")
RUN_STATUSES = ("pending", "running", "succeeded", "failed")


class AnalysisRun(RecordMixin, Base):
    """One analysis: what was asked, on which data, by whom, how it went and what it found."""

    __tablename__ = "analysis_run"
    __table_args__ = (Index("ix_analysis_run_kind_status", "kind", "status"),)

    kind: Mapped[str] = mapped_column(String(30))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    data_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    results: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class CustomerInsight(RecordMixin, Base):
    """What the latest analyses say about one customer: its segment and RFM profile, and its
    scores (lifetime value from the latest ``clv`` run, churn risk from the latest ``churn``
    run)."""

    __tablename__ = "customer_insight"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), unique=True
    )
    segment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("segment.id", ondelete="SET NULL"), index=True
    )
    segment_name: Mapped[str | None] = mapped_column(String(120), index=True)
    recency_days: Mapped[float | None] = mapped_column(Float)
    frequency: Mapped[int | None] = mapped_column(Integer)
    monetary: Mapped[float | None] = mapped_column(Float)
    rfm_score: Mapped[str | None] = mapped_column(String(3))
    segmentation_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("analysis_run.id", ondelete="SET NULL")
    )
    p_alive: Mapped[float | None] = mapped_column(Float, index=True)
    expected_purchases: Mapped[float | None] = mapped_column(Float)
    clv: Mapped[float | None] = mapped_column(Float, index=True)
    clv_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("analysis_run.id", ondelete="SET NULL")
    )
    churn_risk: Mapped[float | None] = mapped_column(Float, index=True)
    churn_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("analysis_run.id", ondelete="SET NULL")
    )


class AssociationRule(IdMixin, Base):
    """A rule from a rules run, in product terms, ready to recommend from."""

    __tablename__ = "association_rule"
    __table_args__ = (Index("ix_association_rule_run_lift", "run_id", "lift"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("analysis_run.id", ondelete="CASCADE"))
    antecedents: Mapped[list[str]] = mapped_column(JSONType)  # product ids, sorted
    consequents: Mapped[list[str]] = mapped_column(JSONType)
    antecedent_size: Mapped[int] = mapped_column(Integer)
    consequent_size: Mapped[int] = mapped_column(Integer)
    antecedent_support: Mapped[float] = mapped_column(Float)
    consequent_support: Mapped[float] = mapped_column(Float)
    support: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    lift: Mapped[float] = mapped_column(Float)
    leverage: Mapped[float] = mapped_column(Float)
    conviction: Mapped[float | None] = mapped_column(Float)  # None stands for infinity
    description: Mapped[str | None] = mapped_column(Text)
