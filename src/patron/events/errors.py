"""Errors of the change feed."""

from __future__ import annotations

from patron.errors import PatronError


class CursorExpired(PatronError):
    """The reader's position is older than the retention window: events after it are gone."""

    code = "cursor_expired"
    title = "The cursor is older than the event retention window"
    status = 410
