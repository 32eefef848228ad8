from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from patron.types import Schema


class PersonalDataExport(Schema):
    format: str
    generated_at: str
    customer_id: str
    profile: dict[str, Any]
    records: dict[str, list[dict[str, Any]]]
    references: dict[str, list[dict[str, Any]]]


class ErasureRead(Schema):
    id: uuid.UUID
    customer_id: uuid.UUID
    erased_at: datetime
    actor_type: str
    actor_id: uuid.UUID | None
    summary: dict[str, int]
