from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, RecordMixin
from patron.db.types import JSONType, UTCDateTime

PAIR_STATUSES = ("open", "merged", "dismissed")


class DuplicatePair(RecordMixin, Base):
    """Two customers a scan found likely to be one person, waiting for someone to decide."""

    __tablename__ = "duplicate_pair"
    __table_args__ = (UniqueConstraint("left_id", "right_id"),)

    left_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    right_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    score: Mapped[float] = mapped_column(Float, index=True)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CustomerMerge(RecordMixin, Base):
    """One merge: who survived, who was merged into it, what moved, and how to undo it."""

    __tablename__ = "customer_merge"

    survivor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    merged_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    # {table: {column: [row ids moved from the merged customer to the survivor]}}
    moved: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The survivor's fields the merge filled in, with their values before it.
    survivor_before: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    survivor_version: Mapped[int] = mapped_column()
    merged_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
