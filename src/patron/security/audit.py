"""The audit trail: who did what to which record, when and from where — append-only, chained.

Every entry is written in the caller's transaction, after the event log's lock
(``events.service.take_feed_lock``), so entries are numbered in commit order and an entry exists
if and only if the change it describes committed. Each entry's ``hash`` is the SHA-256 of its
canonical serialisation (``canonical``), which includes the previous entry's hash: changing,
removing or moving any entry breaks the chain, and ``verify`` names the first broken entry.

Values of personal fields are recorded masked (``patron.security.personal``). Nothing here
updates or deletes an entry; the database refuses to as well (triggers).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from patron.crud.repository import Page
from patron.errors import ValidationFailed
from patron.events.service import take_feed_lock
from patron.kit.clock import as_utc, utcnow
from patron.kit.pagination import InvalidCursor, decode_cursor, encode_cursor
from patron.security import audit_repository as repository
from patron.security.audit_models import AuditEntry
from patron.security.permissions import Action, Principal
from patron.security.personal import mask

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""
API_KEY_USE_EVERY = timedelta(hours=1)
"""An API key's use is recorded at most once per key in this time."""
BOOKKEEPING = frozenset({"id", "created_at", "updated_at", "version"})
_CURSOR = "audit"


class AuditAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    EXPORT = "export"
    ERASE = "erase"
    MERGE = "merge"
    MERGE_UNDO = "merge_undo"
    CONSENT = "consent"
    ROLE_CHANGE = "role_change"
    API_KEY_USE = "api_key_use"


# ----- writing ---------------------------------------------------------------------------------
def record(
    session: Session,
    principal: Principal | None,
    *,
    action: AuditAction | str,
    entity: str | None = None,
    entity_id: uuid.UUID | None = None,
    changes: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
    address: str | None = None,
) -> AuditEntry:
    """Append one entry to the trail, in the caller's transaction (flushed, not committed).

    ``principal`` is who acted (``None``: nobody authenticated, as in a failed login);
    ``address`` defaults to the principal's. ``changes`` maps a field to ``{"before", "after"}``
    (``record_change`` builds it from two snapshots); personal fields are masked here, whoever
    calls. Anything the entry should say beyond that goes in ``detail`` (not masked: put no
    personal data there). The GDPR erasure records itself with
    ``record(session, principal, action=AuditAction.ERASE, entity="customer", entity_id=...,
    detail={...})``.
    """
    take_feed_lock(session)
    head = repository.head(session)
    values = _entry(
        principal,
        position=head.position + 1 if head else 1,
        prev_hash=head.hash if head else GENESIS,
        action=action,
        entity=entity,
        entity_id=entity_id,
        changes=changes,
        detail=detail,
        address=address,
    )
    entry = AuditEntry(**values)
    session.add(entry)
    repository.move_head(session, head, entry.id, entry.hash, entry.occurred_at)
    session.flush()
    return entry


def _entry(
    principal: Principal | None,
    *,
    position: int,
    prev_hash: str,
    action: AuditAction | str,
    entity: str | None,
    entity_id: uuid.UUID | None,
    changes: Mapping[str, Any] | None,
    detail: Mapping[str, Any] | None,
    address: str | None = None,
) -> dict[str, Any]:
    """The column values of the entry at ``position``, chained to ``prev_hash``, with its hash."""
    address = address or (principal.address if principal else None)
    values = {
        "id": position,
        "occurred_at": utcnow(),
        "actor_type": principal.actor_type if principal else "anonymous",
        "actor_id": principal.actor_id if principal else None,
        "user_id": principal.user_id if principal else None,
        "action": AuditAction(action).value,
        "entity": entity,
        "entity_id": entity_id,
        "changes": plain(_masked(changes or {}, entity)),
        "detail": plain(dict(detail or {})),
        "ip_address": address[:64] if address else None,
        "prev_hash": prev_hash,
    }
    values["hash"] = entry_hash(SimpleNamespace(**values))
    return values


def snapshot(record: object) -> dict[str, Any]:
    """A record's column values, to compare before and after a write."""
    mapper = sa_inspect(record).mapper
    return {attr.key: getattr(record, attr.key) for attr in mapper.column_attrs}


def changes_between(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    fields: Iterable[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{field: {"before", "after"}}`` for the fields that differ (or just ``fields``)."""
    before, after = before or {}, after or {}
    names = set(fields) if fields is not None else set(before) | set(after)
    changes = {}
    for name in sorted(names - BOOKKEEPING):
        if name not in before and name not in after:
            continue  # not a column (child rows): named in the entry's detail instead
        old, new = before.get(name), after.get(name)
        if fields is None and old == new:
            continue
        changes[name] = {"before": old, "after": new}
    return changes


def _masked(
    changes: Mapping[str, Mapping[str, Any]], entity: str | None
) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "before": mask(name, change.get("before"), entity),
            "after": mask(name, change.get("after"), entity),
        }
        for name, change in changes.items()
    }


def record_change(
    session: Session,
    principal: Principal,
    *,
    action: AuditAction | str,
    entity: str,
    entity_id: uuid.UUID,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    fields: Iterable[str] | None = None,
) -> AuditEntry:
    """A create (``before=None``), update or delete (``after=None``) of one record."""
    return record(
        session,
        principal,
        action=action,
        entity=entity,
        entity_id=entity_id,
        **_change_parts(before, after, fields),
    )


@dataclass(frozen=True)
class Change:
    """One record's create, update or delete, as ``record_change`` takes it."""

    action: AuditAction | str
    entity: str
    entity_id: uuid.UUID
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    fields: Iterable[str] | None = None


def record_changes(session: Session, principal: Principal, changes: Sequence[Change]) -> None:
    """The entries of a batch write (an import's batch), in order: what ``record_change`` would
    append for each change, with the chain head read once and moved once, and one flush."""
    if not changes:
        return
    take_feed_lock(session)
    head = repository.head(session)
    position, previous = (head.position, head.hash) if head else (0, GENESIS)
    entries = []
    for change in changes:
        position += 1
        entry = _entry(
            principal,
            position=position,
            prev_hash=previous,
            action=change.action,
            entity=change.entity,
            entity_id=change.entity_id,
            **_change_parts(change.before, change.after, change.fields),
        )
        entries.append(entry)
        previous = entry["hash"]
    session.execute(insert(AuditEntry), entries)
    repository.move_head(session, head, position, previous, entries[-1]["occurred_at"])
    session.flush()


def _change_parts(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    fields: Iterable[str] | None,
) -> dict[str, Any]:
    """The ``changes`` and ``detail`` of a record's create, update or delete."""
    fields = list(fields) if fields is not None else None
    changes = changes_between(before, after, fields)
    columns = set(before or {}) | set(after or {})
    children = sorted(set(fields or ()) - columns)
    return {"changes": changes, "detail": {"children": children} if children else None}


def record_api_key_use(
    session: Session, principal: Principal, *, request: str | None = None
) -> AuditEntry | None:
    """Record that an API key was used, unless it was recorded less than an hour ago.

    Called when the key's ``last_used_at`` is bumped (at most once a minute per key), so the
    check costs one indexed query per key per minute, and the trail gets one entry per key per
    hour of use, with the address and the first request of that hour.
    """
    key_id = principal.api_key_id
    if key_id is None:
        return None
    take_feed_lock(session)  # so two requests cannot both find no recent entry
    last = repository.last_at(
        session, action=AuditAction.API_KEY_USE.value, entity="api_key", entity_id=key_id
    )
    if last is not None and utcnow() - as_utc(last) < API_KEY_USE_EVERY:
        return None
    return record(
        session,
        principal,
        action=AuditAction.API_KEY_USE,
        entity="api_key",
        entity_id=key_id,
        detail={"request": request} if request else None,
    )


# ----- the chain -------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """JSON values that read back from SQLite and PostgreSQL (JSONB) exactly as written.

    Strings, integers, booleans and null stay; other numbers become their decimal text (JSONB
    would rewrite ``1e20`` as an integer), times their ISO 8601 text, ids their text.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, dict):  # the common case, kept quick: snapshots of every column
        return {
            str(key): item if item is None or type(item) in _SCALARS else plain(item)
            for key, item in value.items()
        }
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, datetime):
        return timestamp(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date | uuid.UUID | Decimal | float):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [plain(item) for item in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return str(value)


_SCALARS = frozenset({str, int, bool})  # exactly these types: ``plain`` returns them as they are


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(entry: AuditEntry | SimpleNamespace) -> bytes:
    """The bytes an entry's hash covers: its fields and the previous hash, as canonical JSON.

    A JSON object with the keys sorted, no whitespace (``","`` and ``":"`` separators), non-ASCII
    escaped (``\\uXXXX``), UTF-8; times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC), ids as
    lower-case hyphenated text, absent values as ``null``. The entry's ``id`` is not included:
    its position is fixed by ``prev_hash`` and checked by ``verify``.
    """
    body = {
        "prev_hash": entry.prev_hash,
        "occurred_at": timestamp(entry.occurred_at),
        "actor_type": entry.actor_type,
        "actor_id": _text(entry.actor_id),
        "user_id": _text(entry.user_id),
        "action": entry.action,
        "entity": entry.entity,
        "entity_id": _text(entry.entity_id),
        "changes": entry.changes,
        "detail": entry.detail,
        "ip_address": entry.ip_address,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(entry: AuditEntry | SimpleNamespace) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def _text(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


@dataclass(frozen=True)
class Broken:
    """The first entry that does not fit the chain, and why."""

    id: int
    reason: str  # hash mismatch | gap | reorder | rewritten | unrecorded | head missing
    detail: str


@dataclass(frozen=True)
class Verification:
    entries: int
    head_id: int | None
    head_hash: str | None
    broken: Broken | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def verify(
    session: Session, *, batch_size: int = 2_000, progress: Callable[[int], None] | None = None
) -> Verification:
    """Walk the chain in id order, ``batch_size`` entries at a time; stop at the first break.

    ``progress`` is called with the number of entries checked after each batch.
    """
    head = repository.head(session)
    head_id, head_hash = (head.position, head.hash) if head else (None, None)
    expected, previous = 1, GENESIS
    for batch in repository.in_order(session, batch_size=batch_size):
        for entry in batch:
            broken = _check(session, entry, expected, previous)
            if broken is not None:
                return Verification(expected - 1, head_id, head_hash, broken)
            expected, previous = entry.id + 1, entry.hash
        if progress is not None:
            progress(len(batch))
    entries = expected - 1
    broken = _check_head(entries, previous, head_id, head_hash)
    return Verification(entries, head_id, head_hash, broken)


def _check(session: Session, entry: AuditEntry, expected: int, previous: str) -> Broken | None:
    if entry.id != expected:
        missing = f"{expected}" if entry.id == expected + 1 else f"{expected} to {entry.id - 1}"
        return Broken(expected, "gap", f"entry {missing} is missing (the next entry is {entry.id})")
    if entry_hash(entry) != entry.hash:
        return Broken(entry.id, "hash mismatch", "its content does not match its hash: edited")
    if entry.prev_hash != previous:
        source = repository.position_of_hash(session, entry.prev_hash)
        if source is not None:
            return Broken(
                entry.id,
                "reorder",
                f"it chains to entry {source}, not to entry {entry.id - 1}: entries were moved",
            )
        if entry.id == 1:
            return Broken(1, "rewritten", "the first entry does not start the chain")
        return Broken(
            entry.id - 1,
            "rewritten",
            f"its hash is not the one entry {entry.id} chains to: it was replaced",
        )
    return None


def _check_head(
    entries: int, last_hash: str, head_id: int | None, head_hash: str | None
) -> Broken | None:
    if head_id is None:
        if entries:
            return Broken(entries, "head missing", "the chain head record was removed")
        return None
    if head_id > entries:
        missing = f"{entries + 1}" if head_id == entries + 1 else f"{entries + 1} to {head_id}"
        return Broken(
            entries + 1, "gap", f"entry {missing} is missing (the chain head records {head_id})"
        )
    if head_id < entries:
        return Broken(
            head_id + 1,
            "unrecorded",
            f"entries after {head_id} (the recorded head) were not written by Patron",
        )
    if head_hash != last_hash:
        return Broken(head_id, "rewritten", "its hash differs from the recorded chain head")
    return None


# ----- reading ---------------------------------------------------------------------------------
def list_entries(
    session: Session,
    principal: Principal,
    *,
    filters: Any = None,
    limit: int = 25,
    cursor: str | None = None,
) -> Page[AuditEntry]:
    """Entries matching the filters, newest first, a page at a time (admins only)."""
    principal.require("audit", Action.READ)
    before_id = _cursor_id(cursor)
    rows = repository.newest_first(session, filters, before_id=before_id, limit=limit + 1)
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(_CURSOR, [rows[-1].id]) if has_more and rows else None
    return Page(items=rows, has_more=has_more, next_cursor=next_cursor)


def can_read(principal: Principal) -> bool:
    return principal.can("audit", Action.READ)


def history(
    session: Session, principal: Principal, *, entity: str, entity_id: uuid.UUID, limit: int = 20
) -> Page[AuditEntry]:
    """One record's own entries, newest first (what its page shows)."""
    filters = _RecordFilter(entity=entity, entity_id=entity_id)
    return list_entries(session, principal, filters=filters, limit=limit)


@dataclass(frozen=True)
class _RecordFilter:
    entity: str
    entity_id: uuid.UUID


def _cursor_id(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        value = int(decode_cursor(cursor, _CURSOR)[0])
        if not 0 < value < 2**63:
            raise ValueError(value)
    except (InvalidCursor, ValueError, TypeError, IndexError) as exc:
        raise ValidationFailed.field(
            "cursor", "The cursor is not valid.", "invalid_cursor"
        ) from exc
    return value


def actor_names(session: Session, entries: Iterable[AuditEntry]) -> dict[uuid.UUID, str]:
    """The email of each entry's user (the staff member acting, directly or by API key)."""
    return repository.user_emails(session, {e.user_id for e in entries if e.user_id is not None})


def entry_count(session: Session) -> int:
    return repository.count(session)
