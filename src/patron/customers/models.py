from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, validates

from patron.db.base import Base, RecordMixin
from patron.db.types import JSONType
from patron.security import crypto
from patron.security.crypto_types import EncryptedText, blind_index_column

CUSTOMER_KINDS = ("person", "company")
LIFECYCLE_STAGES = ("lead", "prospect", "customer", "churned", "other")


class Customer(RecordMixin, Base):
    __tablename__ = "customer"
    __table_args__ = (
        CheckConstraint("kind IN ('person', 'company')", name="kind"),
        Index("ix_customer_owner_team", "owner_id", "team_id"),
    )

    kind: Mapped[str] = mapped_column(String(10), default="person")
    name: Mapped[str] = mapped_column(String(200), index=True)
    # Personal data is encrypted (docs/security.md); lengths are checked by the schemas.
    email: Mapped[str | None] = mapped_column(EncryptedText("customer.email"))
    email_index: Mapped[str | None] = blind_index_column("email", "email")
    phone: Mapped[str | None] = mapped_column(EncryptedText("customer.phone"))
    phone_index: Mapped[str | None] = blind_index_column("phone", "phone")
    address_line1: Mapped[str | None] = mapped_column(EncryptedText("customer.address_line1"))
    address_line2: Mapped[str | None] = mapped_column(EncryptedText("customer.address_line2"))
    city: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2), index=True)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default="lead", index=True)
    source: Mapped[str | None] = mapped_column(String(60))
    external_id: Mapped[str | None] = mapped_column(String(120), unique=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("team.id", ondelete="SET NULL"), index=True
    )
    notes: Mapped[str | None] = mapped_column(EncryptedText("customer.notes"))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    @validates("email", "phone")
    def _keep_blind_index(self, key: str, value: str | None) -> str | None:
        setattr(self, f"{key}_index", crypto.blind_index(key, value))
        return value
