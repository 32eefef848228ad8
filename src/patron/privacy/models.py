from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from patron.db.base import Base, IdMixin
from patron.db.types import JSONType, UTCDateTime
from patron.kit.clock import utcnow


class Erasure(IdMixin, Base):
    """That a customer's personal data was erased: when, by whom, and what was touched.

    No foreign key to the customer: the record of an erasure must not depend on what it erased.
    """

    __tablename__ = "erasure"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
