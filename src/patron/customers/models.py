from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from patron.db.base import Base, RecordMixin
from patron.db.types import JSONType, UTCDateTime
from patron.security import crypto
from patron.security.crypto_types import EncryptedText, blind_index_column

CUSTOMER_KINDS = ("person", "company")
CONSENT_STATES = ("opted_in", "opted_out", "unknown")
LIFECYCLE_STAGES = ("lead", "prospect", "customer", "churned", "other")


class Customer(RecordMixin, Base):
    __tablename__ = "customer"
    __table_args__ = (
        CheckConstraint("kind IN ('person', 'company')", name="kind"),
        CheckConstraint(
            "marketing_consent IN ('opted_in', 'opted_out', 'unknown')", name="marketing_consent"
        ),
        Index("ix_customer_owner_team", "owner_id", "team_id"),
    )

    kind: Mapped[str] = mapped_column(String(10), default="person")
    name: Mapped[str] = mapped_column(String(200), index=True)
    # Personal data is encrypted (docs/security.md); lengths are checked by the schemas.
    email: Mapped[str | None] = mapped_column(EncryptedText("customer.email"))
    email_index: Mapped[str | None] = blind_index_column("email", "email")
    phone: Mapped[str | None] = mapped_column(EncryptedText("customer.phone"))
    phone_index: Mapped[str | None] = blind_index_column("phone", "phone")
    # The number as it was first given, when cleaning to E.164 changed it (an import keeps it).
    phone_raw: Mapped[str | None] = mapped_column(EncryptedText("customer.phone_raw"))
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
    # Marketing consent: opted_in | opted_out | unknown, with when and where it was given.
    marketing_consent: Mapped[str] = mapped_column(
        String(10), default="unknown", server_default="unknown", index=True
    )
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_source: Mapped[str | None] = mapped_column(String(60))
    # Set when this record was merged into another (its duplicate); lists leave it out.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL"), index=True
    )
    # Set when the customer's personal data was erased (GDPR art. 17); the row keeps the accounts.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the analyses say about the customer (segment, RFM, scores); read-only from here, and
    # loaded only where asked for (the customer resource's reads do).
    insight: Mapped[CustomerInsight | None] = relationship(
        "CustomerInsight", uselist=False, viewonly=True, lazy="raise"
    )

    @validates("email", "phone")
    def _keep_blind_index(self, key: str, value: str | None) -> str | None:
        setattr(self, f"{key}_index", crypto.blind_index(key, value))
        return value


from patron.insights.models import CustomerInsight  # noqa: E402 - registers the related class
