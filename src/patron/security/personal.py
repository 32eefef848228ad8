"""Which fields hold personal data or secrets: defined once, used wherever values are shown.

The audit trail records before and after values of every change; the fields named here are
recorded masked (``mask``), so the trail says *that* an email changed without keeping either
address. Field names are matched on any table (``email`` of a customer and of a user alike).
"""

from __future__ import annotations

from typing import Any

PERSONAL_FIELDS = frozenset(
    {
        "email",
        "phone",
        "phone_raw",
        "address_line1",
        "address_line2",
        "notes",  # customers
        "body",  # activities
        "description",  # tickets (and, harmlessly, the other descriptions)
        "q",  # free-text search, as recorded with an export: it may hold an email or a phone
    }
)
"""Personal data: contact details, address lines and free-text bodies, notes and descriptions."""

PERSONAL_BY_ENTITY: dict[str, frozenset[str]] = {
    "customer": frozenset(
        {"name", "city", "region", "postal_code", "tags", "custom_fields", "external_id", "source"}
    ),
    "user": frozenset({"name"}),
    "deal": frozenset({"title", "won_reason", "lost_reason"}),
    "ticket": frozenset({"subject"}),
    "activity": frozenset({"subject"}),
}
"""Fields personal only on some records: a customer's name is, a product's is not. With these
masked too, the trail holds nothing an erasure would have to remove (it could not: it is
append-only and hash-chained)."""

SECRET_FIELDS = frozenset(
    {
        "password",
        "password_hash",
        "key_hash",
        "token_hash",
        "csrf_token",
        "secret",
        "previous_secret",
    }
)
"""Secrets and their hashes: never shown, not even masked by shape."""

MASKED = "[masked]"
REDACTED = "[redacted]"


def is_personal(field: str, entity: str | None = None) -> bool:
    return field in PERSONAL_FIELDS or field in PERSONAL_BY_ENTITY.get(entity or "", ())


def mask(field: str, value: Any, entity: str | None = None) -> Any:
    """``value`` as it may be shown: personal data becomes ``[masked]``, secrets ``[redacted]``.

    An empty value stays empty (``None`` or ``""``), so a record still shows that a field was set
    or cleared.
    """
    if value is None or value == "" or value == [] or value == {}:
        return value
    if field in SECRET_FIELDS:
        return REDACTED
    if is_personal(field, entity):
        return MASKED
    return value
