"""What goes in and out of the audit trail's API and page."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from patron.security.audit import AuditAction
from patron.types import ReadSchema, Schema, UTCDatetime


class AuditFilter(Schema):
    actor: uuid.UUID | None = Field(
        default=None, description="A user (their own entries and their API keys') or an API key."
    )
    entity: str | None = Field(
        default=None, max_length=40, description="customer, user, api_key, order, ..."
    )
    entity_id: uuid.UUID | None = None
    action: AuditAction | None = None
    since: UTCDatetime | None = Field(default=None, description="At or after this time.")
    until: UTCDatetime | None = Field(default=None, description="Before this time.")
    limit: int = Field(default=25, ge=1, le=100, description="Page size, 1-100.")
    cursor: str | None = Field(default=None, max_length=200, description="From `next_cursor`.")


class AuditEntryRead(ReadSchema):
    id: int
    occurred_at: datetime
    actor_type: str
    actor_id: uuid.UUID | None
    user_id: uuid.UUID | None
    action: str
    entity: str | None
    entity_id: uuid.UUID | None
    changes: dict[str, Any]
    detail: dict[str, Any]
    ip_address: str | None
    prev_hash: str
    hash: str
