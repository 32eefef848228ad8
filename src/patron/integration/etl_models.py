from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin
from patron.db.types import UTCDateTime
from patron.kit.clock import utcnow


class EtlRun(IdMixin, Base):
    """One run of an ETL job: what it read, wrote and rejected, and how far it got (the
    watermark the next run starts after)."""

    __tablename__ = "etl_run"

    name: Mapped[str] = mapped_column(String(120), index=True)
    entity: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    watermark_from: Mapped[str | None] = mapped_column(String(100))
    watermark_to: Mapped[str | None] = mapped_column(String(100))
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    created: Mapped[int] = mapped_column(BigInteger, default=0)
    updated: Mapped[int] = mapped_column(BigInteger, default=0)
    unchanged: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    import_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("import_run.id", ondelete="SET NULL")
    )
    error: Mapped[str | None] = mapped_column(Text)
