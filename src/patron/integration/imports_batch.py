"""Writing one batch of an import: find what each row matches, then create and update in bulk.

The rows of a batch are planned in file order: each is matched (by external id, then email, sku
or number) against the records the batch prefetched, and becomes a create, an update with its
diff, or nothing (unchanged, skipped). Planned writes go to the entity's service together
(``create_many``, ``update_many``): the same permission, scope and validation rules, the same
events and audit entries as ``create`` and ``update``, with one flush for the lot. A row the rules
refuse goes to the error file; the others go ahead.

The writes planned together form a *wave*. A wave never holds two rows that touch the same key
or the same record: such a row closes the wave (its writes are made) and starts the next, so it
sees the earlier row's record exactly as a row-by-row import would — created, then updated or
unchanged. Most batches are one wave. Within a wave, creates are written before updates.

A row that has to create the customer or products it names first (``create_missing``) is
written alone, inside a savepoint, so a refused row takes its new customer with it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import insert, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from patron.errors import ValidationFailed
from patron.integration import cleaning
from patron.integration.cleaning import CleaningOptions
from patron.integration.imports_entities import EntitySpec, RowError
from patron.integration.imports_models import ImportRecord
from patron.integration.imports_read import SourceRow
from patron.security.permissions import Principal

if TYPE_CHECKING:
    from patron.integration.imports import Mapping
    from patron.integration.imports_dry import DryRunMemory


@dataclass
class Context:
    """What one run of an import knows while it reads its batches."""

    run_id: uuid.UUID
    spec: EntitySpec
    mapping: Mapping
    options: CleaningOptions
    on_duplicate: str
    create_missing: bool
    dry_run: bool
    principal: Principal
    headers: list[str]
    error_path: Path
    stages: dict[str, Any] = field(default_factory=dict)
    memory: DryRunMemory | None = None  # a dry run's record of what its batches wrote
    touched: list[tuple[str, Any]] = field(default_factory=list)  # (entity, record), this batch


@dataclass
class BatchOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[SourceRow, str, str]] = field(default_factory=list)

    def count(self, action: str) -> None:
        setattr(self, action, getattr(self, action) + 1)


Index = dict[str, dict[str, Any]]  # key name -> key value -> record


@dataclass
class References:
    by_external_id: dict[str, Any]
    by_email: dict[str, Any]
    by_sku: dict[str, Any]


class NeedsReferences(Exception):
    """The row would create its customer or a product first: it is written on its own."""


@dataclass
class _Create:
    row: SourceRow
    values: dict[str, Any]
    data: BaseModel


@dataclass
class _Update:
    row: SourceRow
    record: Any
    data: BaseModel
    previous: dict[str, Any]


@dataclass
class Wave:
    """Writes planned together: no two of them touch the same key or the same record."""

    creates: list[_Create] = field(default_factory=list)
    updates: list[_Update] = field(default_factory=list)
    keys: set[tuple[str, str]] = field(default_factory=set)
    records: set[int] = field(default_factory=set)

    def touches(self, keys: list[tuple[str, str]], record: Any) -> bool:
        return any(key in self.keys for key in keys) or (
            record is not None and id(record) in self.records
        )

    def claim(self, keys: list[tuple[str, str]], record: Any) -> None:
        self.keys.update(keys)
        if record is not None:
            self.records.add(id(record))


# ----- a batch -----------------------------------------------------------------------------------
def write(
    session: Session,
    context: Context,
    cleaned: list[tuple[SourceRow, dict[str, Any]]],
    outcome: BatchOutcome,
) -> None:
    """Match, create and update the cleaned rows of one batch, in file order."""
    spec = context.spec
    rows = [values for _, values in cleaned]
    if context.memory is not None:
        context.memory.replay(session, spec, rows)
    index = prefetch(session, spec, rows)
    refs = prefetch_references(session, spec, rows)
    wave = Wave()
    for row, values in cleaned:
        keys = key_values(spec, values)
        if wave.touches(keys, existing(spec, values, index)):
            write_wave(session, context, wave, index, outcome)
            wave = Wave()
        try:
            plan(session, context, wave, row, values, index, refs, outcome)
        except NeedsReferences:
            write_wave(session, context, wave, index, outcome)
            wave = Wave()
            _write_alone(session, context, row, values, index, refs, outcome)
        except RowError as exc:
            outcome.errors.append((row, exc.column, exc.reason))
    write_wave(session, context, wave, index, outcome)
    session.flush()
    if context.memory is not None:
        context.memory.remember(context.touched)
    context.touched.clear()
    outcome.errors.sort(key=lambda error: error[0].number)


def plan(
    session: Session,
    context: Context,
    wave: Wave,
    row: SourceRow,
    values: dict[str, Any],
    index: Index,
    refs: References,
    outcome: BatchOutcome,
) -> None:
    """Add the row's write to the wave, or count it unchanged; a refused row raises RowError."""
    spec = context.spec
    keys = key_values(spec, values)
    found = existing(spec, values, index)
    if found is not None:
        if context.on_duplicate == "skip":
            outcome.unchanged += 1
            return
        if context.on_duplicate == "error":
            raise _duplicate(spec, values, index, found)
        diff = _diff(spec, found, values)
        if not diff:
            outcome.unchanged += 1
            return
        previous = {name: _jsonable(getattr(found, name)) for name in diff}
        wave.updates.append(_Update(row, found, validated(spec.update_schema, diff), previous))
        wave.claim(keys, found)
        return
    resolved = resolve(session, context, row, values, refs, create=False)
    wave.creates.append(_Create(row, values, validated(spec.create_schema, resolved)))
    wave.claim(keys, None)


def write_wave(
    session: Session, context: Context, wave: Wave, index: Index, outcome: BatchOutcome
) -> None:
    """The wave's creates, then its updates, each as one call to the service."""
    spec, links = context.spec, []
    if wave.creates:
        datas = [create.data for create in wave.creates]
        results = spec.service.create_many(session, context.principal, datas)
        for create, result in zip(wave.creates, results, strict=True):
            if isinstance(result, ValidationFailed):
                outcome.errors.append((create.row, *reason(result)))
                continue
            links.append(_link_row(context, spec.name, result, "created", create.row, None))
            for key, value in key_values(spec, create.values):
                index[key][value] = result
            outcome.created += 1
    if wave.updates:
        changes = [(update.record.id, update.data) for update in wave.updates]
        results = spec.service.update_many(session, context.principal, changes)
        for update, result in zip(wave.updates, results, strict=True):
            if isinstance(result, ValidationFailed):
                outcome.errors.append((update.row, *reason(result)))
                continue
            links.append(
                _link_row(context, spec.name, result, "updated", update.row, update.previous)
            )
            outcome.updated += 1
    if links:
        session.execute(insert(ImportRecord), links)


def _write_alone(
    session: Session,
    context: Context,
    row: SourceRow,
    values: dict[str, Any],
    index: Index,
    refs: References,
    outcome: BatchOutcome,
) -> None:
    """A row that creates its customer or products first: all of it in a savepoint, so that a
    refused row leaves none of them behind."""
    savepoint = session.begin_nested()
    touched = len(context.touched)
    try:
        resolved = resolve(session, context, row, values, refs, create=True)
        data = validated(context.spec.create_schema, resolved)
        record = context.spec.service.create(session, context.principal, data)
    except (RowError, ValidationFailed) as exc:
        savepoint.rollback()
        del context.touched[touched:]
        _forget_rolled_back(refs)
        outcome.errors.append((row, *reason(exc)))
        return
    link(session, context, context.spec.name, record, "created", row, None)
    savepoint.commit()
    for key, value in key_values(context.spec, values):
        index[key][value] = record
    outcome.created += 1


def _forget_rolled_back(refs: References) -> None:
    """Drop the references a refused row had created: its savepoint took them back."""
    for known in (refs.by_external_id, refs.by_email, refs.by_sku):
        for key in [key for key, record in known.items() if _rolled_back(record)]:
            del known[key]


def _rolled_back(record: Any) -> bool:
    state = sa_inspect(record)
    return bool(state.transient or state.detached)


def _duplicate(spec: EntitySpec, values: dict[str, Any], index: Index, found: Any) -> RowError:
    key, value = next((k, v) for k, v in key_values(spec, values) if index[k].get(v) is found)
    return RowError(key, f"a record with {key} {value!r} exists already")


def _diff(spec: EntitySpec, record: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The row's values that differ from the record's (custom fields merged into its own)."""
    allowed = set(spec.update_schema.model_fields) - spec.immutable - {"version"}
    diff: dict[str, Any] = {}
    for name, value in values.items():
        if name not in allowed:
            continue
        current = getattr(record, name)
        if name == "custom_fields":
            value = {**(current or {}), **value}
        if current != value:
            diff[name] = value
    return diff


def reason(exc: RowError | ValidationFailed) -> tuple[str, str]:
    if isinstance(exc, RowError):
        return exc.column, exc.reason
    errors = exc.extra.get("errors") or [{"field": "", "message": exc.detail}]
    return str(errors[0].get("field") or ""), str(errors[0]["message"])


def validated(schema: type[BaseModel], values: dict[str, Any]) -> BaseModel:
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        column = ".".join(str(part) for part in error["loc"])
        raise RowError(column, error["msg"]) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _link_row(
    context: Context,
    entity: str,
    record: Any,
    action: str,
    row: SourceRow,
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    """The import's link to a record it created or changed (``revert`` undoes it)."""
    context.touched.append((entity, record))
    return {
        "import_id": context.run_id,
        "entity": entity,
        "record_id": record.id,
        "action": action,
        "row_number": row.number,
        "previous": previous,
    }


def link(
    session: Session,
    context: Context,
    entity: str,
    record: Any,
    action: str,
    row: SourceRow,
    previous: dict[str, Any] | None,
) -> None:
    session.add(ImportRecord(**_link_row(context, entity, record, action, row, previous)))


# ----- matching ----------------------------------------------------------------------------------
def key_values(spec: EntitySpec, values: dict[str, Any]) -> list[tuple[str, str]]:
    return [(key, str(values[key])) for key in spec.keys if values.get(key)]


def prefetch(session: Session, spec: EntitySpec, rows: list[dict[str, Any]]) -> Index:
    wanted: dict[str, set[str]] = {key: set() for key in spec.keys}
    for values in rows:
        for key, value in key_values(spec, values):
            wanted[key].add(value)
    return {key: spec.finders[key](session, values) for key, values in wanted.items()}


def prefetch_references(
    session: Session, spec: EntitySpec, rows: list[dict[str, Any]]
) -> References:
    from patron.customers.models import Customer
    from patron.customers.repository import customers_by_email
    from patron.sales.models import Product

    if not spec.references:
        return References({}, {}, {})
    external_ids = {str(v["customer_external_id"]) for v in rows if v.get("customer_external_id")}
    emails = {str(v["customer_email"]) for v in rows if v.get("customer_email")}
    skus: set[str] = set()
    for values in rows:
        skus.update(str(line.get("sku")) for line in values.get("lines") or [] if line.get("sku"))
        if values.get("sku"):
            skus.add(str(values["sku"]))
    by_external = {}
    if external_ids:
        found = session.scalars(select(Customer).where(Customer.external_id.in_(external_ids)))
        by_external = {customer.external_id: customer for customer in found}
    by_sku = {}
    if skus:
        by_sku = {p.sku: p for p in session.scalars(select(Product).where(Product.sku.in_(skus)))}
    return References(by_external, customers_by_email(session, emails), by_sku)


def existing(spec: EntitySpec, values: dict[str, Any], index: Index) -> Any:
    external_id = values.get("external_id")
    for key, value in key_values(spec, values):
        found = index[key].get(value)
        if found is None:
            continue
        other = getattr(found, "external_id", None) if key != "external_id" else None
        if external_id and other and other != external_id:
            continue  # the same email under another external id: another record
        return found
    return None


# ----- references: the customer, the products, the stage -----------------------------------------
REFERENCE_KEYS = ("customer_external_id", "customer_email", "customer_name", "sku", "quantity",
                  "unit_price", "product_name", "stage")  # fmt: skip


def resolve(
    session: Session,
    context: Context,
    row: SourceRow,
    values: dict[str, Any],
    refs: References,
    *,
    create: bool,
) -> dict[str, Any]:
    """The row's values with its references as ids. A reference that does not exist raises
    RowError, or, with ``create_missing``, is created (``create``) or raises NeedsReferences."""
    spec = context.spec
    if not spec.references:
        return values
    resolved = {key: value for key, value in values.items() if key not in REFERENCE_KEYS}
    resolved["customer_id"] = _customer(session, context, row, values, refs, create).id
    if spec.name == "orders":
        resolved["lines"] = _order_lines(session, context, row, values, refs, create)
    if spec.name == "deals" and values.get("stage"):
        resolved["stage_id"] = _stage(session, context, values["stage"])
    return resolved


def _customer(
    session: Session,
    context: Context,
    row: SourceRow,
    values: dict[str, Any],
    refs: References,
    create: bool,
) -> Any:
    from patron.customers.schemas import CustomerCreate
    from patron.customers.service import customers

    external_id, email = values.get("customer_external_id"), values.get("customer_email")
    if email is not None:
        try:
            email = cleaning.email(email)
        except cleaning.CleaningError as exc:
            raise RowError("customer_email", exc.reason) from None
    found = refs.by_external_id.get(str(external_id)) if external_id else None
    if found is None and email:
        found = refs.by_email.get(email)
    if found is not None:
        return found
    if not (external_id or email):
        raise RowError("customer_external_id", "the row names no customer (external id or email)")
    if not context.create_missing:
        column, value = ("customer_external_id", external_id) if external_id else (
            "customer_email", email)  # fmt: skip
        raise RowError(column, f"no customer with {column.removeprefix('customer_')} {value!r}")
    if not create:
        raise NeedsReferences
    name = cleaning.name(values.get("customer_name")) or email or str(external_id)
    data = validated(CustomerCreate, {"name": name, "email": email, "external_id": external_id})
    customer = customers.create(session, context.principal, data)
    link(session, context, "customers", customer, "created", row, None)
    if external_id:
        refs.by_external_id[str(external_id)] = customer
    if email:
        refs.by_email[email] = customer
    return customer


def _order_lines(
    session: Session,
    context: Context,
    row: SourceRow,
    values: dict[str, Any],
    refs: References,
    create: bool,
) -> list[dict[str, Any]]:
    wanted = values.get("lines") or [
        {
            "sku": values.get("sku"),
            "quantity": values.get("quantity") or 1,
            "unit_price": values.get("unit_price"),
            "name": values.get("product_name"),
        }
    ]
    currency = values.get("currency") or context.options.default_currency
    lines = []
    for position, line in enumerate(wanted):
        sku = cleaning.text(line.get("sku"), max_length=64)
        if not sku:
            raise RowError("sku", f"line {position + 1} names no product sku")
        price = line.get("unit_price")
        product = refs.by_sku.get(sku)
        if product is None:
            product = _missing_product(session, context, row, line, sku, price, currency, refs,
                                       create)  # fmt: skip
        try:
            quantity = cleaning.integer(line.get("quantity") or 1, minimum=1, maximum=1_000_000)
        except cleaning.CleaningError as exc:
            raise RowError("quantity", exc.reason) from None
        lines.append({"product_id": product.id, "quantity": quantity, "unit_price_minor": price})
    return lines


def _missing_product(
    session: Session,
    context: Context,
    row: SourceRow,
    line: dict[str, Any],
    sku: str,
    price: int | None,
    currency: str,
    refs: References,
    create: bool,
) -> Any:
    from patron.sales.schemas import ProductCreate
    from patron.sales.service import products

    if not context.create_missing:
        raise RowError("sku", f"no product with sku {sku!r}")
    if not create:
        raise NeedsReferences
    data = validated(
        ProductCreate,
        {
            "sku": sku,
            "name": cleaning.name(line.get("name")) or sku,
            "price_minor": price or 0,
            "currency": currency,
        },
    )
    product = products.create(session, context.principal, data)
    link(session, context, "products", product, "created", row, None)
    refs.by_sku[sku] = product
    return product


def _stage(session: Session, context: Context, name: str) -> uuid.UUID:
    from patron.sales.models import PipelineStage

    if not context.stages:
        stages = session.execute(select(PipelineStage.name, PipelineStage.id))
        context.stages.update({stage.name.lower(): stage.id for stage in stages})
    found = context.stages.get(name.lower())
    if found is None:
        raise RowError("stage", f"no pipeline stage called {name!r}")
    return found
