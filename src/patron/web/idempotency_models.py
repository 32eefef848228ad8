from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin
from patron.db.types import JSONType, UTCDateTime
from patron.security.crypto_types import EncryptedBytes


class IdempotentRequest(IdMixin, Base):
    """A POST made with an Idempotency-Key, and the answer it got (kept 24 hours)."""

    __tablename__ = "idempotent_request"
    __table_args__ = (UniqueConstraint("owner", "key"),)

    owner: Mapped[str] = mapped_column(String(64))  # SHA-256 of the caller's credential
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)  # None while the first request runs
    headers: Mapped[list[Any] | None] = mapped_column(JSONType)
    body: Mapped[bytes | None] = mapped_column(EncryptedBytes("idempotent_request.body"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
