"""Export everything held about a customer, erase it, and record marketing consent.

Erasure keeps the accounts: orders and their lines keep their amounts, attached to a customer row
that no longer says who it was. Every table the schema walk reaches must have a policy here; a
table without one stops the erasure (fail closed) until someone decides what it holds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from patron.customers import service as customers
from patron.customers.models import Customer
from patron.errors import Conflict, NotFound, PatronError
from patron.events import service as events
from patron.kit.clock import utcnow
from patron.privacy import repository
from patron.privacy.models import Erasure
from patron.security import audit
from patron.security.permissions import Action, Principal

ENTITY = "personal_data"
FORMAT = "patron.personal-data/1"
LEDGER_NAME = "erasures.jsonl"  # under the data directory, outside the database and its backups
ERASED_NAME = "Erased customer"
ERASED_TEXT = "[erased]"

# Customer columns an erasure keeps: identifiers, ownership, and what the accounts need.
CUSTOMER_KEEPS = frozenset(
    {
        "id", "kind", "country", "lifecycle_stage", "company_id", "owner_id", "team_id",
        "created_at", "updated_at", "version", "marketing_consent", "consent_at",
        "consent_source", "erased_at", "merged_into_id",
    }
)  # fmt: skip
# Non-null customer columns an erasure overwrites rather than clears.
CUSTOMER_REPLACEMENTS: dict[str, Any] = {"name": ERASED_NAME, "tags": [], "custom_fields": {}}


@dataclass(frozen=True)
class Policy:
    """What erasure does to a table's rows owned by the customer."""

    action: Literal["keep", "delete", "overwrite"]
    values: dict[str, Any] = field(default_factory=dict)
    why: str = ""


POLICIES: dict[str, Policy] = {
    "order": Policy("keep", why="the accounts; the order holds no identity of its own"),
    "order_line": Policy("keep", why="the accounts"),
    "deal": Policy(
        "overwrite",
        {"title": ERASED_TEXT, "won_reason": None, "lost_reason": None},
        why="pipeline figures stay, free text goes",
    ),
    "ticket": Policy(
        "overwrite", {"subject": ERASED_TEXT, "description": None}, why="service counts stay"
    ),
    "activity": Policy("delete", why="the content of conversations is personal"),
    "campaign_member": Policy("delete", why="marketing to an erased person must stop"),
    "segment_member": Policy("delete", why="profiling of an erased person must stop"),
    "customer_insight": Policy("delete", why="scores are personal data"),
    "duplicate_pair": Policy("delete", why="match explanations compare personal data"),
    "customer_merge": Policy(
        "overwrite", {"survivor_before": {}}, why="ids stay; the old values (tags, fields) go"
    ),
}
REFERENCE_POLICIES: dict[str, Policy] = {
    "event": Policy("overwrite", {"data": {"erased": True}}, why="payloads copy the record"),
    "audit_entry": Policy(
        "keep", why="append-only and hash-chained; personal fields are masked when written"
    ),
    "webhook_delivery": Policy(
        "overwrite", {"body": '{"erased": true}'}, why="the body copies the event's record"
    ),
    "import_record": Policy(
        "overwrite", {"previous": None}, why="the values an import replaced (its file goes too)"
    ),
    "webhook_attempt": Policy(
        "overwrite", {"response_body": None}, why="a receiver's answer may echo the record"
    ),
}


class NoErasurePolicy(PatronError):
    status = 500
    code = "no_erasure_policy"
    title = "Erasure is not configured for every table"


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _plain_row(row: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(value) for key, value in row.items()}


def export(session: Session, principal: Principal, customer_id: uuid.UUID) -> dict[str, Any]:
    """Everything held about the customer, as JSON-ready data."""
    principal.require(ENTITY, Action.READ)
    customers.customers.get(session, principal, customer_id)  # 404 outside the caller's scope
    owned = repository.owned_rows(session, customer_id)
    ids = [customer_id] + [row["id"] for rows in owned.values() for row in rows if "id" in row]
    references = repository.reference_rows(session, ids)
    profile = repository.customer_row(session, customer_id) or {}
    return {
        "format": FORMAT,
        "generated_at": utcnow().isoformat(),
        "customer_id": str(customer_id),
        "profile": _plain_row(profile),
        "records": {
            name: [_plain_row(row) for row in rows] for name, rows in sorted(owned.items())
        },
        "references": {
            name: [_plain_row(row) for row in rows] for name, rows in sorted(references.items())
        },
    }


def check_policies() -> None:
    """Refuse to erase while any table the walk reaches has no policy."""
    missing = [name for name in repository.owned_tables() if name not in POLICIES]
    missing += [
        table.name
        for table in repository.reference_tables()
        if table.name not in REFERENCE_POLICIES
    ]
    if missing:
        raise NoErasurePolicy(
            "No erasure policy for: " + ", ".join(sorted(missing)) + ". Nothing was erased."
        )


def _apply(session: Session, name: str, policy: Policy, rows: list[dict[str, Any]]) -> int:
    if not rows or policy.action == "keep":
        return 0
    if policy.action == "delete":
        return repository.delete_rows(session, name, rows)
    return repository.overwrite_rows(session, name, rows, policy.values)


def _anonymise(customer: Customer) -> None:
    for column in Customer.__table__.columns:
        if column.name in CUSTOMER_KEEPS:
            continue
        if column.name in CUSTOMER_REPLACEMENTS:
            setattr(customer, column.key, CUSTOMER_REPLACEMENTS[column.name])
        elif column.nullable:
            setattr(customer, column.key, None)
        else:
            raise NoErasurePolicy(f"No erasure rule for customer column {column.name}.")
    customer.marketing_consent = "opted_out"
    customer.consent_source = "erasure"
    customer.consent_at = customer.erased_at = utcnow()


def erase(
    session: Session,
    principal: Principal,
    customer_id: uuid.UUID,
    *,
    ledger: Path | None = None,
    check_scope: bool = True,
) -> Erasure:
    """Erase the customer's personal data everywhere the database holds it, and record it.

    With a ``ledger``, the erasure is appended to that file once the transaction commits, so a
    restore of an older backup can apply it again (``reapply``).
    """
    principal.require(ENTITY, Action.DELETE)
    check_policies()
    customer = (
        customers.customers.get(session, principal, customer_id)
        if check_scope
        else session.get(Customer, customer_id)
    )
    if customer is None:
        raise NotFound("No such customer.")
    owned = repository.owned_rows(session, customer_id)
    ids = [customer_id] + [row["id"] for rows in owned.values() for row in rows if "id" in row]
    summary: dict[str, int] = {}
    for name, rows in owned.items():
        summary[name] = _apply(session, name, POLICIES[name], rows)
    _anonymise(customer)
    session.flush()
    references = repository.reference_rows(session, ids)
    for link in repository.reference_children():
        parent_ids = [row["id"] for row in references.get(link.parent, []) if "id" in row]
        rows = repository.child_rows(session, link, parent_ids)
        name = link.table.name
        summary[name] = _apply(session, name, REFERENCE_POLICIES[name], rows)
    for name, rows in references.items():
        summary[name] = _apply(session, name, REFERENCE_POLICIES[name], rows)
    if ledger is not None:  # the data directory: files the app keeps are under it
        import_ids = [row["import_id"] for row in references.get("import_record", [])]
        kept = repository.import_files(session, import_ids)
        summary["import_files"] = _remove_files_on_commit(session, kept, ledger.parent)
    erasure = Erasure(
        customer_id=customer_id,
        actor_type=principal.actor_type,
        actor_id=principal.actor_id,
        summary={name: count for name, count in sorted(summary.items()) if count},
    )
    session.add(erasure)
    session.flush()
    audit.record(
        session, principal, action=audit.AuditAction.ERASE, entity="customer",
        entity_id=customer_id, detail={"erasure_id": str(erasure.id), "rows": erasure.summary},
    )  # fmt: skip
    events.record(
        session,
        principal,
        type="customer.erased",
        entity="customer",
        entity_id=customer_id,
        changed=["personal_data"],
        data={"erased": True, "erasure_id": str(erasure.id)},
    )
    for duplicate_id in repository.merged_into(session, customer_id):
        erase(session, principal, duplicate_id, check_scope=False)  # the same person's records
    if ledger is not None:
        _append_on_commit(
            session, ledger, {"customer_id": str(customer_id), "at": _plain(erasure.erased_at)}
        )
    return erasure


def _remove_files_on_commit(session: Session, paths: list[str], data_dir: Path) -> int:
    """Files the app keeps that hold the customer's data (an import's upload and its error file,
    under the data directory; a file a user imported from elsewhere is theirs) are deleted once
    the erasure commits."""
    root = data_dir.resolve()
    existing = [
        Path(path)
        for path in paths
        if Path(path).exists() and Path(path).resolve().is_relative_to(root)
    ]

    def remove(_: Session) -> None:
        for path in existing:
            path.unlink(missing_ok=True)

    if existing:
        sa_event.listen(session, "after_commit", remove, once=True)
    return len(existing)


def _append_on_commit(session: Session, ledger: Path, entry: dict[str, Any]) -> None:
    def append(_: Session) -> None:
        ledger.parent.mkdir(parents=True, exist_ok=True)
        with ledger.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    sa_event.listen(session, "after_commit", append, once=True)


def ledger_entries(ledger: Path) -> list[uuid.UUID]:
    if not ledger.exists():
        return []
    entries: list[uuid.UUID] = []
    for line in ledger.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entries.append(uuid.UUID(json.loads(line)["customer_id"]))
    return list(dict.fromkeys(entries))


def reapply(
    session: Session, ledger: Path, progress: Callable[[int, int], None] | None = None
) -> list[uuid.UUID]:
    """Erase again every customer the ledger names that the database holds un-erased
    (after a restore from a backup older than the erasure). Returns who was erased again."""
    wanted = ledger_entries(ledger)
    present = repository.existing_customer_ids(session, wanted)
    done = repository.erased_customer_ids(session, wanted)
    again = [cid for cid in wanted if cid in present and cid not in done]
    for number, customer_id in enumerate(again, 1):
        erase(session, Principal.system(), customer_id, check_scope=False, ledger=None)
        if progress:
            progress(number, len(again))
    return again


ConsentState = Literal["opted_in", "opted_out"]


def set_consent(
    session: Session,
    principal: Principal,
    customer_id: uuid.UUID,
    state: ConsentState,
    source: str,
) -> Customer:
    principal.require("customers", Action.UPDATE)
    customer = customers.customers.get(session, principal, customer_id)
    if customer.erased_at is not None:
        raise Conflict("This customer's personal data was erased.", code="erased")
    customer.marketing_consent = state
    customer.consent_source = source
    customer.consent_at = utcnow()
    session.flush()
    audit.record(
        session, principal, action=audit.AuditAction.CONSENT, entity="customer",
        entity_id=customer_id, detail={"marketing_consent": state, "source": source},
    )  # fmt: skip
    events.record(
        session,
        principal,
        type="customer.consent_changed",
        entity="customer",
        entity_id=customer_id,
        changed=["marketing_consent", "consent_at", "consent_source"],
        data={"marketing_consent": state, "consent_source": source},
    )
    return customer
