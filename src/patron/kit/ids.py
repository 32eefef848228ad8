"""Time-ordered identifiers (UUID version 7, RFC 9562)."""

from __future__ import annotations

import uuid

import uuid6


def new_id() -> uuid.UUID:
    """A UUIDv7: sorts by creation time, unique across machines."""
    return uuid.UUID(bytes=uuid6.uuid7().bytes)
