"""Imports and what they touched: one row per import, one link per record created or changed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin, RecordMixin
from patron.db.types import JSONType, UTCDateTime
from patron.security.crypto_types import EncryptedJSON

IMPORT_STATUSES = ("queued", "running", "succeeded", "failed", "reverted")
IMPORT_ACTIONS = ("created", "updated")


class ImportRun(RecordMixin, Base):
    """One import of one file. ``rows_done`` is the resume cursor: the source rows whose batch
    committed, written in the same transaction as the batch itself."""

    __tablename__ = "import_run"
    __table_args__ = (Index("ix_import_run_fingerprint", "fingerprint", "status"),)

    entity: Mapped[str] = mapped_column(String(30))
    file_name: Mapped[str] = mapped_column(String(255))
    file_path: Mapped[str] = mapped_column(Text)
    file_format: Mapped[str] = mapped_column(String(10))
    file_size: Mapped[int] = mapped_column(BigInteger, default=0)
    fingerprint: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    runner: Mapped[str | None] = mapped_column(String(120))
    total_rows: Mapped[int | None] = mapped_column(BigInteger)
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error_file: Mapped[str | None] = mapped_column(Text)
    error_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reverted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportRecord(IdMixin, Base):
    """A record an import created or changed; ``previous`` holds the changed fields' old values."""

    __tablename__ = "import_record"
    __table_args__ = (Index("ix_import_record_import", "import_id", "id"),)

    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("import_run.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(30))
    record_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    action: Mapped[str] = mapped_column(String(10))
    row_number: Mapped[int] = mapped_column(BigInteger)
    previous: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON("import_record.previous"))
