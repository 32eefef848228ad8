"""The error family. Every error Patron raises on purpose is a ``PatronError``.

Each carries a machine ``code``, an HTTP ``status`` and a human ``title``/``detail``; the web layer
renders them as RFC 9457 problem details, the CLI prints them and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class PatronError(Exception):
    code: str = "error"
    title: str = "Something went wrong"
    status: int = 500

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        title: str | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title
        if status is not None:
            self.status = status
        self.extra = extra or {}
        super().__init__(self.detail)


class NotFound(PatronError):
    code = "not_found"
    title = "Not found"
    status = 404


class Conflict(PatronError):
    code = "conflict"
    title = "Conflict"
    status = 409


class VersionConflict(Conflict):
    code = "version_conflict"
    title = "The record was changed by someone else"


class ValidationFailed(PatronError):
    """Input that parses but breaks a rule. ``errors`` is a list of {field, message, code}."""

    code = "validation_failed"
    title = "Invalid input"
    status = 422

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, Any]] | None = None):
        super().__init__(detail, extra={"errors": errors or []})

    @classmethod
    def field(cls, field: str, message: str, code: str = "invalid") -> ValidationFailed:
        return cls(message, errors=[{"field": field, "message": message, "code": code}])


class NotAuthenticated(PatronError):
    code = "not_authenticated"
    title = "Authentication required"
    status = 401


class PermissionDenied(PatronError):
    code = "permission_denied"
    title = "Not allowed"
    status = 403


class DatabaseUnavailable(PatronError):
    code = "database_unavailable"
    title = "The database cannot be reached"
    status = 503
