"""Duplicate customers: store a scan's pairs for review, merge a pair, undo a merge.

Survivorship (the customer the user keeps is the survivor; the other is merged into it):

- every order, ticket, activity, deal, membership and score of the merged customer moves to the
  survivor — found from the schema (any foreign key to a customer), so new tables move too; a
  row whose twin the survivor already has (the same segment, the same campaign) stays behind;
- the survivor's own values win; an empty survivor field takes the merged customer's value;
- tags are united; custom fields are united, the survivor's winning on the same key;
- the lifecycle stage is the more advanced of the two (customer > prospect > lead);
- consent is the more careful: an opt-out on either side holds;
- the merged record stays, hidden from lists, pointing at the survivor (``merged_into_id``), so
  links to it still resolve and the merge can be undone exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from patron.crud import repository as crud_repository
from patron.crud.repository import Page, Resource
from patron.customers import service as customers
from patron.customers.models import Customer
from patron.db.engine import Database
from patron.db.models import Base
from patron.errors import Conflict, NotFound, ValidationFailed
from patron.events import service as events
from patron.integration import duplicates_repository as repository
from patron.integration.duplicates_models import CustomerMerge, DuplicatePair
from patron.kit.clock import utcnow
from patron.security import audit
from patron.security.permissions import Action, Principal
from patron.worker import queue

JOB_KIND = "duplicate_scan"
FILLED_FIELDS = (
    "email", "phone", "address_line1", "address_line2", "city", "region", "postal_code",
    "country", "company_id", "owner_id", "team_id", "source", "notes",
)  # fmt: skip
STAGE_RANK = {"lead": 1, "prospect": 2, "customer": 3}

PAIRS = Resource(
    entity="customers",
    event_name="duplicate_pair",
    model=DuplicatePair,
    sort_fields={"score": DuplicatePair.score, "created_at": DuplicatePair.created_at},
    default_sort="-score",
)


# ----- scanning ---------------------------------------------------------------------------------
def store_scan(
    database: Database,
    threshold: float,
    progress: Callable[[float, str | None], None] | None = None,
) -> dict[str, int]:
    """Scan every customer and keep the pairs at or above ``threshold`` for review. A pair
    someone dismissed stays dismissed; open pairs the new scan no longer finds are dropped."""
    from patron.integration.dedup import DuplicateFinder
    from patron.integration.dedup_data import customers_frame

    frame = customers_frame(database, Principal.system())
    if progress:
        progress(0.3, f"{len(frame):,} customers read")
    finder = DuplicateFinder(threshold=threshold)
    found = finder.find(frame)
    if progress:
        progress(0.8, f"{len(found):,} pairs found")
    with database.unit_of_work() as session:
        known = repository.pair_keys(session)
        keep: list[uuid.UUID] = []
        for row in found.to_dict("records"):
            left = uuid.UUID(str(frame.loc[row["left"], "id"]))
            right = uuid.UUID(str(frame.loc[row["right"], "id"]))
            pair = known.get((left, right))
            if pair is None:
                pair = DuplicatePair(left_id=left, right_id=right)
                session.add(pair)
            pair.score = round(float(row["score"]), 6)
            pair.explanation = finder.explain(row)
            session.flush()
            keep.append(pair.id)
        repository.delete_open_pairs_not_in(session, keep)
    return {"customers": len(frame), "pairs": len(found)}


def start_scan(session: Session, principal: Principal, threshold: float) -> uuid.UUID:
    principal.require("customers", Action.UPDATE)
    job = queue.enqueue(session, JOB_KIND, {"threshold": threshold}, max_attempts=1)
    return job.id


def run_job(context: queue.JobContext, payload: dict[str, Any]) -> None:
    store_scan(context.database, float(payload["threshold"]), context.report)


# ----- review -----------------------------------------------------------------------------------
def list_pairs(
    session: Session,
    principal: Principal,
    *,
    threshold: float,
    limit: int,
    cursor: str | None,
) -> tuple[Page[DuplicatePair], dict[uuid.UUID, Customer]]:
    """Open pairs of customers the caller can both see, best first, with the two customers."""
    principal.require("customers", Action.READ)
    statement = repository.open_pairs(threshold, principal)
    page = crud_repository.page(session, statement, PAIRS, sort=None, limit=limit, cursor=cursor)
    ids = {pair.left_id for pair in page.items} | {pair.right_id for pair in page.items}
    return page, repository.customers_by_id(session, ids)


def get_pair(session: Session, principal: Principal, pair_id: uuid.UUID) -> DuplicatePair:
    principal.require("customers", Action.READ)
    found = session.get(DuplicatePair, pair_id)
    if found is None or not all(
        customers.is_visible(session, principal, cid) for cid in (found.left_id, found.right_id)
    ):
        raise NotFound("No such duplicate pair.", code="duplicate_pair_not_found")
    return found


def dismiss(session: Session, principal: Principal, pair_id: uuid.UUID) -> DuplicatePair:
    principal.require("customers", Action.UPDATE)
    found = get_pair(session, principal, pair_id)
    found.status = "dismissed"
    found.decided_by = principal.user_id
    found.decided_at = utcnow()
    session.flush()
    return found


# ----- merging ----------------------------------------------------------------------------------
def _fill(survivor: Customer, merged: Customer) -> dict[str, Any]:
    """Apply survivorship; return the survivor's fields that changed, with their old values."""
    wanted: dict[str, Any] = {}
    for name in FILLED_FIELDS:
        if getattr(survivor, name) in (None, "") and getattr(merged, name) not in (None, ""):
            wanted[name] = getattr(merged, name)
    tags = list(dict.fromkeys([*survivor.tags, *merged.tags]))
    if tags != survivor.tags:
        wanted["tags"] = tags
    custom = {**merged.custom_fields, **survivor.custom_fields}
    if custom != survivor.custom_fields:
        wanted["custom_fields"] = custom
    if STAGE_RANK.get(merged.lifecycle_stage, 0) > STAGE_RANK.get(survivor.lifecycle_stage, 0):
        wanted["lifecycle_stage"] = merged.lifecycle_stage
    if (
        merged.marketing_consent == "opted_out"
        or (survivor.marketing_consent == "unknown" and merged.marketing_consent == "opted_in")
    ) and survivor.marketing_consent != merged.marketing_consent:
        for name in ("marketing_consent", "consent_at", "consent_source"):
            wanted[name] = getattr(merged, name)
    before = {name: _jsonable(getattr(survivor, name)) for name in wanted}
    for name, value in wanted.items():
        setattr(survivor, name, value)
    return before


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _customer(session: Session, principal: Principal, customer_id: uuid.UUID) -> Customer:
    customer = customers.customers.get(session, principal, customer_id)
    if customer.merged_into_id is not None:
        raise Conflict(
            f"Customer {customer_id} was already merged into {customer.merged_into_id}.",
            code="already_merged",
        )
    return customer


def merge(
    session: Session, principal: Principal, survivor_id: uuid.UUID, merged_id: uuid.UUID
) -> CustomerMerge:
    principal.require("customers", Action.UPDATE)
    principal.require("customers", Action.DELETE)
    if survivor_id == merged_id:
        raise ValidationFailed.field("duplicate_id", "A customer cannot be merged into itself.")
    survivor = _customer(session, principal, survivor_id)
    merged = _customer(session, principal, merged_id)
    if survivor.kind != merged.kind:
        raise ValidationFailed.field(
            "duplicate_id", f"A {merged.kind} cannot be merged into a {survivor.kind}."
        )
    if survivor.erased_at or merged.erased_at:
        raise Conflict("An erased customer cannot be merged.", code="erased")
    moved: dict[str, dict[str, list[str]]] = {}
    counts: dict[str, int] = {}
    for table, column in repository.customer_links():
        ids = repository.movable_ids(session, table, column, merged_id, survivor_id)
        if table.name == "customer":
            ids = [i for i in ids if i != survivor_id]
        if ids:
            repository.repoint(session, column, ids, survivor_id, table)
            moved.setdefault(table.name, {})[column.name] = [str(i) for i in ids]
            counts[table.name] = counts.get(table.name, 0) + len(ids)
    session.expire_all()
    survivor = session.get(Customer, survivor_id)  # type: ignore[assignment]
    merged = session.get(Customer, merged_id)  # type: ignore[assignment]
    before = _fill(survivor, merged)
    merged.merged_into_id = survivor_id
    session.flush()
    record = CustomerMerge(
        survivor_id=survivor_id,
        merged_id=merged_id,
        moved=moved,
        survivor_before=before,
        survivor_version=survivor.version,
        merged_by=principal.user_id,
    )
    session.add(record)
    for pair in repository.pairs_of(session, [survivor_id, merged_id]):
        if {pair.left_id, pair.right_id} == {survivor_id, merged_id}:
            pair.status, pair.decided_by, pair.decided_at = "merged", principal.user_id, utcnow()
    session.flush()
    data = {"merge_id": str(record.id), "survivor_id": str(survivor_id),
            "merged_id": str(merged_id), "moved": counts}  # fmt: skip
    audit.record(session, principal, action=audit.AuditAction.MERGE, entity="customer",
                 entity_id=survivor_id, detail=data)  # fmt: skip
    events.record(session, principal, type="customer.merged", entity="customer",
                  entity_id=survivor_id, changed=sorted(before), data=data)  # fmt: skip
    events.record(session, principal, type="customer.merged_into", entity="customer",
                  entity_id=merged_id, changed=["merged_into_id"], data=data)  # fmt: skip
    return record


def undo(session: Session, principal: Principal, merge_id: uuid.UUID) -> CustomerMerge:
    """Put everything back: rows return to the merged customer, the survivor's filled fields
    return to their old values (unless someone changed them since), the merged record reappears."""
    principal.require("customers", Action.UPDATE)
    principal.require("customers", Action.DELETE)
    record = repository.merge_record(session, merge_id)
    if record is None or not customers.is_visible(session, principal, record.survivor_id):
        raise NotFound("No such merge.", code="merge_not_found")
    if record.undone_at is not None:
        raise Conflict("This merge was undone already.", code="merge_undone")
    survivor = session.get(Customer, record.survivor_id)
    merged = session.get(Customer, record.merged_id)
    assert survivor is not None
    assert merged is not None
    for table_name, columns in record.moved.items():
        table = Base.metadata.tables[table_name]
        for column_name, ids in columns.items():
            column = table.c[column_name]
            still = repository.still_pointing(session, table, column, ids, record.survivor_id)
            repository.repoint(session, column, still, record.merged_id, table)
    session.expire_all()
    survivor = session.get(Customer, record.survivor_id)
    merged = session.get(Customer, record.merged_id)
    assert survivor is not None
    assert merged is not None
    expected = _expected_after(record, merged)
    restored = []
    for name, old in record.survivor_before.items():
        if _jsonable(getattr(survivor, name)) == _jsonable(expected.get(name)):
            setattr(survivor, name, _revive(name, old))
            restored.append(name)
    merged.merged_into_id = None
    record.undone_at = utcnow()
    for pair in repository.pairs_of(session, [record.survivor_id, record.merged_id]):
        if {pair.left_id, pair.right_id} == {record.survivor_id, record.merged_id}:
            pair.status = "open"
    session.flush()
    data = {"merge_id": str(record.id), "survivor_id": str(record.survivor_id),
            "merged_id": str(record.merged_id)}  # fmt: skip
    audit.record(session, principal, action=audit.AuditAction.MERGE_UNDO, entity="customer",
                 entity_id=record.survivor_id, detail=data)  # fmt: skip
    events.record(session, principal, type="customer.merge_undone", entity="customer",
                  entity_id=record.survivor_id, changed=sorted(restored), data=data)  # fmt: skip
    events.record(session, principal, type="customer.merge_undone", entity="customer",
                  entity_id=record.merged_id, changed=["merged_into_id"], data=data)  # fmt: skip
    return record


def _expected_after(record: CustomerMerge, merged: Customer) -> dict[str, Any]:
    """What the merge set each filled field to, recomputed from the merged customer."""
    expected: dict[str, Any] = {}
    for name, old in record.survivor_before.items():
        if name == "tags":
            expected[name] = list(dict.fromkeys([*(old or []), *merged.tags]))
        elif name == "custom_fields":
            expected[name] = {**merged.custom_fields, **(old or {})}
        else:
            expected[name] = getattr(merged, name)
    return expected


def _revive(name: str, value: Any) -> Any:
    column = Customer.__table__.c[name]
    if value is None:
        return None
    python_type = getattr(column.type, "python_type", None)
    try:
        if python_type is uuid.UUID:
            return uuid.UUID(value)
        if python_type is not None and python_type.__name__ == "datetime":
            from datetime import datetime

            return datetime.fromisoformat(value)
    except NotImplementedError:
        return value
    return value
