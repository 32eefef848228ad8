"""Opaque cursors for keyset pagination.

A cursor is the sort key and the values of the last row seen, base64url-encoded JSON. It is opaque
to clients; a cursor for another sort, or one that was tampered with, is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


class InvalidCursor(ValueError):
    pass


def encode_cursor(sort: str, values: list[Any]) -> str:
    raw = json.dumps({"s": sort, "v": values}, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise InvalidCursor("The cursor is not one Patron issued.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("v"), list):
        raise InvalidCursor("The cursor is not one Patron issued.")
    if data.get("s") != sort:
        raise InvalidCursor("The cursor belongs to another sort order; start again without it.")
    return list(data["v"])
