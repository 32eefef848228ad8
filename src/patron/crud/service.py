"""The generic service: permission, scope, validation hooks, version check, diff, event and audit.

Services flush; they never commit. The request, command or job that called them commits.

``create_many`` and ``update_many`` apply the same rules to a batch of items (an import's batch):
the same hooks, events and audit entries, with one flush for the batch instead of one per item.
An item the rules refuse (``ValidationFailed``) comes back as that error and the others go
ahead; any other error raises, as it would from ``create`` or ``update``. That includes
``unique_fields``: a value another record holds, or an earlier item of the batch took, refuses
its item as it refuses ``create`` — asked once per field for the batch (``UniqueHolders``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Index, UniqueConstraint
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from patron.crud import repository
from patron.crud.repository import M, Page, Resource
from patron.db.base import Base
from patron.errors import NotFound, ValidationFailed, VersionConflict
from patron.events import service as events
from patron.kit.clock import utcnow
from patron.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from patron.security import audit
from patron.security.permissions import Action, Principal

T = TypeVar("T")
R = TypeVar("R")


def each(items: Sequence[T], apply: Callable[[T], R]) -> list[R | ValidationFailed]:
    """``apply`` to every item; an item it refuses gives its ``ValidationFailed``, in its place."""
    results: list[R | ValidationFailed] = []
    for item in items:
        try:
            results.append(apply(item))
        except ValidationFailed as exc:
            results.append(exc)
    return results


def _refuse_nulls(model: type[Base], values: dict[str, Any]) -> None:
    """A PATCH may not empty a column (or child collection) the table requires."""
    mapper = sa_inspect(model)
    for key, value in values.items():
        if value is not None:
            continue
        column = mapper.columns.get(key)
        required = (column is not None and not column.nullable) or key in mapper.relationships
        if required:
            raise ValidationFailed.field(key, f"{key} cannot be empty.", "required")


_NEW = uuid.UUID(int=0)  # holds a value for an item of the batch that has no id yet


@cache
def unique_columns(model: type[Base]) -> frozenset[str]:
    """The attributes of ``model`` whose column holds each value once (a one-column unique
    constraint or index)."""
    mapper = sa_inspect(model)
    table = mapper.local_table
    single = {
        next(iter(item.columns)).key
        for item in (*table.constraints, *table.indexes)
        if (isinstance(item, UniqueConstraint) or (isinstance(item, Index) and item.unique))
        and len(item.columns) == 1
    }
    return frozenset(
        key for key, column in mapper.columns.items() if column.unique or column.key in single
    )


class UniqueHolders:
    """Who holds each value of the unique fields a batch names: the database asked once per
    field (``IN`` over the batch's values), then kept up to date as the batch's items, in order,
    take values and give them up — so each item is judged as ``create`` or ``update`` would
    judge it, written one by one in the batch's order.

    It also notes every value of a unique column an item gave up (``unique_fields`` or not: a
    service may check some itself, as customers do their external ids), so that an item taking
    one is written after the item that let it go: the database checks each row as it is
    written, and a flush writes a batch's rows in no order of the batch's."""

    def __init__(
        self,
        session: Session,
        model: type[Base],
        fields: Sequence[str],
        rows: list[dict[str, Any]],
    ) -> None:
        self.holders = {
            name: repository.value_owners(
                session, model, name, {row[name] for row in rows if row.get(name) is not None}
            )
            for name in fields
        }
        self.watched = unique_columns(model) | set(fields)
        self.given_up: set[tuple[str, Any]] = set()

    def held(self, record: Any) -> dict[str, Any]:
        """The record's values of the unique columns, to pass to ``take`` once it is changed."""
        return {name: getattr(record, name) for name in self.watched}

    def taken(self, values: dict[str, Any], record: Any | None) -> str | None:
        """The first field whose value another record (or an earlier item) holds, or None."""
        own = record.id if record is not None else None
        for name, holders in self.holders.items():
            value = values.get(name)
            holder = holders.get(value) if value is not None else None
            if holder is not None and holder != own:
                return name
        return None

    def after_release(self, values: dict[str, Any]) -> bool:
        """Whether the item takes a value an earlier item of the batch gave up."""
        return any((name, values.get(name)) in self.given_up for name in self.watched)

    def take(self, values: dict[str, Any], record: Any | None, old: dict[str, Any]) -> None:
        """The item is written: it holds its new values, and gives up the ones it had (``old``)."""
        own = record.id if record is not None else _NEW
        for name in self.watched:
            if name not in values or values[name] == old.get(name):
                continue
            previous, holders = old.get(name), self.holders.get(name, {})
            if previous is not None:
                self.given_up.add((name, previous))
                if holders.get(previous) == own:
                    del holders[previous]
            if values[name] is not None and name in self.holders:
                holders[values[name]] = own


class CrudService(Generic[M]):
    """Subclass per resource; override the hooks to add the domain's rules."""

    resource: Resource[M]
    read_schema: type[BaseModel]
    not_found_message: str = "No such record."
    # Unique columns checked before writing, so a duplicate is a field error the caller can act
    # on rather than the database's bare conflict.
    unique_fields: tuple[str, ...] = ()

    # ----- hooks -----------------------------------------------------------------------------
    def prepare_create(
        self, session: Session, principal: Principal, values: dict[str, Any]
    ) -> dict[str, Any]:
        return values

    def prepare_update(
        self, session: Session, principal: Principal, record: M, values: dict[str, Any]
    ) -> dict[str, Any]:
        return values

    def prepare_create_many(
        self, session: Session, principal: Principal, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any] | ValidationFailed]:
        """``prepare_create`` for each row of a batch. A service whose rules query the database
        per row overrides this to ask once for the whole batch, with the same rules."""
        return each(rows, lambda values: self.prepare_create(session, principal, values))

    def prepare_update_many(
        self, session: Session, principal: Principal, pairs: list[tuple[M, dict[str, Any]]]
    ) -> list[dict[str, Any] | ValidationFailed]:
        """``prepare_update`` for each (record, values) of a batch; overridden like
        ``prepare_create_many``."""
        return each(pairs, lambda pair: self.prepare_update(session, principal, *pair))

    def after_write(self, session: Session, principal: Principal, record: M) -> None:
        """Called after create and update, once the row is flushed (e.g. to write children)."""

    def before_delete(self, session: Session, principal: Principal, record: M) -> None:
        """Raise to refuse a delete (e.g. a product still on orders)."""

    def audit_action(self, changed: list[str]) -> audit.AuditAction:
        """What the audit trail calls an update with these changed fields."""
        return audit.AuditAction.UPDATE

    def _check_unique(self, session: Session, values: dict[str, Any], record: M | None) -> None:
        for name in self.unique_fields:
            value = values.get(name)
            except_id = record.id if record is not None else None  # type: ignore[attr-defined]
            if value is not None and repository.value_taken(
                session, self.resource.model, name, value, except_id
            ):
                raise self._duplicate(name)

    def _duplicate(self, name: str) -> ValidationFailed:
        noun = self.resource.event_name.replace("_", " ")
        label = name.replace("_", " ")
        return ValidationFailed.field(
            name, f"Another {noun} already has this {label}.", "duplicate"
        )

    def _unique_holders(self, session: Session, rows: list[Any]) -> UniqueHolders:
        """``UniqueHolders`` for the rows of a batch that its rules let through."""
        kept = [row for row in rows if not isinstance(row, ValidationFailed)]
        return UniqueHolders(session, self.resource.model, self.unique_fields, kept)

    def event_data(self, record: M) -> dict[str, Any]:
        return self.read_schema.model_validate(record).model_dump(mode="json")

    # ----- reads -----------------------------------------------------------------------------
    def get_or_none(self, session: Session, principal: Principal, record_id: uuid.UUID) -> M | None:
        principal.require(self.resource.entity, Action.READ)
        return repository.get_scoped(session, self.resource, principal, record_id)

    def get(self, session: Session, principal: Principal, record_id: uuid.UUID) -> M:
        record = self.get_or_none(session, principal, record_id)
        if record is None:
            raise NotFound(self.not_found_message, code=f"{self.resource.event_name}_not_found")
        return record

    def list(
        self,
        session: Session,
        principal: Principal,
        *,
        filters: Any = None,
        sort: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[M]:
        principal.require(self.resource.entity, Action.READ)
        limit = max(1, min(limit, MAX_LIMIT))
        statement = repository.scoped_select(self.resource, principal)
        if filters is not None and self.resource.apply_filters is not None:
            statement = self.resource.apply_filters(statement, filters)
        return repository.page(
            session, statement, self.resource, sort=sort, limit=limit, cursor=cursor
        )

    # ----- writes ----------------------------------------------------------------------------
    def create(self, session: Session, principal: Principal, data: BaseModel) -> M:
        principal.require(self.resource.entity, Action.CREATE)
        values = self.prepare_create(session, principal, data.model_dump(exclude_unset=False))
        self._check_unique(session, values, None)
        record = self.resource.model(**values)
        session.add(record)
        session.flush()
        self.after_write(session, principal, record)
        events.record(
            session,
            principal,
            type=f"{self.resource.event_name}.created",
            entity=self.resource.event_name,
            entity_id=record.id,  # type: ignore[attr-defined]
            changed=[key for key, value in values.items() if value is not None],
            data=self.event_data(record),
        )
        audit.record_change(
            session, principal, action=audit.AuditAction.CREATE, entity=self.resource.event_name,
            entity_id=record.id, before=None, after=audit.snapshot(record),  # type: ignore[attr-defined]
        )  # fmt: skip
        return record

    def create_many(
        self, session: Session, principal: Principal, items: Sequence[BaseModel]
    ) -> list[M | ValidationFailed]:
        """``create`` for each item, with one flush for the batch: each result is the new
        record, or the ``ValidationFailed`` that refused that item. The records are inserted
        together, then their events and audit entries, in the items' order. Items cannot refer
        to each other (a later item does not see an earlier one as existing)."""
        principal.require(self.resource.entity, Action.CREATE)
        rows = [data.model_dump(exclude_unset=False) for data in items]
        results: list[M | ValidationFailed] = []
        created: list[tuple[M, dict[str, Any]]] = []
        prepared = self.prepare_create_many(session, principal, rows)
        unique = self._unique_holders(session, prepared)
        for values in prepared:
            if isinstance(values, ValidationFailed):
                results.append(values)
                continue
            taken = unique.taken(values, None)
            if taken is not None:
                results.append(self._duplicate(taken))
                continue
            unique.take(values, None, {})
            record = self.resource.model(**values)
            results.append(record)
            created.append((record, values))
        if not created:
            return results
        session.add_all([record for record, _ in created])
        session.flush()
        for record, _ in created:
            self.after_write(session, principal, record)
        self._log_many(
            session,
            principal,
            [
                (record, None, [key for key, value in values.items() if value is not None])
                for record, values in created
            ],
        )
        return results

    def update_many(
        self, session: Session, principal: Principal, items: Sequence[tuple[uuid.UUID, BaseModel]]
    ) -> list[M | ValidationFailed]:
        """``update`` for each (record id, data), with one flush for the batch: each result is
        the record (changed or not), or the ``ValidationFailed`` that refused that item, whose
        record is left as it was. A record outside the caller's scope or a stale ``version``
        raises, as from ``update``. The ids must differ (one change per record per batch)."""
        principal.require(self.resource.entity, Action.UPDATE)
        found = repository.get_scoped_many(
            session, self.resource, principal, [record_id for record_id, _ in items]
        )
        results: list[M | ValidationFailed] = []
        staged: list[tuple[int, M, dict[str, Any], BaseModel]] = []
        for index, (record_id, data) in enumerate(items):
            record = found.get(record_id)
            if record is None:
                raise NotFound(self.not_found_message, code=f"{self.resource.event_name}_not_found")
            values = data.model_dump(exclude_unset=True)
            self._check_version(record, values.pop("version", None))
            results.append(record)
            try:
                _refuse_nulls(self.resource.model, values)
            except ValidationFailed as exc:
                results[index] = exc
                continue
            staged.append((index, record, values, data))
        prepared = self.prepare_update_many(
            session, principal, [(record, values) for _, record, values, _ in staged]
        )
        unique = self._unique_holders(session, prepared)
        applied: list[tuple[M, dict[str, Any], list[str]]] = []
        for (index, record, _, data), values in zip(staged, prepared, strict=True):
            if isinstance(values, ValidationFailed):
                results[index] = values
                continue
            taken = unique.taken(values, record)
            if taken is not None:
                results[index] = self._duplicate(taken)
                continue
            if unique.after_release(values):
                session.flush()  # the earlier record lets the value go first
            held = unique.held(record)
            before = audit.snapshot(record)
            changed = [key for key, value in values.items() if getattr(record, key) != value]
            for key in changed:
                setattr(record, key, values[key])
            try:
                children = self.after_update_children(session, principal, record, data)
            except ValidationFailed as exc:
                if any(key not in before for key in changed):
                    raise  # a child collection was replaced: the batch cannot go on without it
                for key in changed:  # leave the refused item's record as it was
                    setattr(record, key, before[key])
                results[index] = exc
                continue
            unique.take(values, record, held)
            if children and not changed:
                record.updated_at = utcnow()  # type: ignore[attr-defined]
            changed.extend(children)
            if changed:
                applied.append((record, before, changed))
        session.flush()
        self._log_many(session, principal, applied)
        return results

    def _log_many(
        self,
        session: Session,
        principal: Principal,
        written: Sequence[tuple[M, dict[str, Any] | None, list[str]]],
    ) -> None:
        """The events and audit entries of a batch write, in its order, as ``create`` and
        ``update`` write them: (record, its snapshot before (None: created), changed names)."""
        name = self.resource.event_name
        changes: list[events.Change] = []
        entries: list[audit.Change] = []
        for record, before, changed in written:
            record_id = record.id  # type: ignore[attr-defined]
            verb = "created" if before is None else "updated"
            data = self.event_data(record)
            changes.append(events.Change(f"{name}.{verb}", name, record_id, changed, data))
            after = audit.snapshot(record)
            if before is None:
                entries.append(audit.Change(audit.AuditAction.CREATE, name, record_id, None, after))
            else:
                action = self.audit_action(changed)
                entries.append(audit.Change(action, name, record_id, before, after, changed))
        events.record_many(session, principal, changes)
        audit.record_changes(session, principal, entries)

    def _check_version(self, record: M, expected: int | None) -> None:
        if expected is not None and expected != record.version:  # type: ignore[attr-defined]
            raise VersionConflict(
                f"You sent version {expected}, but the record is at version "
                f"{record.version}; reload it and apply your change again.",  # type: ignore[attr-defined]
                extra={"current_version": record.version},  # type: ignore[attr-defined]
            )

    def update(
        self,
        session: Session,
        principal: Principal,
        record_id: uuid.UUID,
        data: BaseModel,
        *,
        expected_version: int | None = None,
    ) -> M:
        principal.require(self.resource.entity, Action.UPDATE)
        record = self.get(session, principal, record_id)
        values = data.model_dump(exclude_unset=True)
        body_version = values.pop("version", None)
        self._check_version(
            record, expected_version if expected_version is not None else body_version
        )
        _refuse_nulls(self.resource.model, values)
        values = self.prepare_update(session, principal, record, values)
        self._check_unique(session, values, record)
        changed = [key for key, value in values.items() if getattr(record, key) != value]
        before = audit.snapshot(record)
        for key in changed:
            setattr(record, key, values[key])
        children = self.after_update_children(session, principal, record, data)
        if children and not changed:
            # Only children changed: touching the parent still moves its version on, once.
            record.updated_at = utcnow()  # type: ignore[attr-defined]
        changed.extend(children)
        session.flush()
        if changed:
            events.record(
                session,
                principal,
                type=f"{self.resource.event_name}.updated",
                entity=self.resource.event_name,
                entity_id=record.id,  # type: ignore[attr-defined]
                changed=changed,
                data=self.event_data(record),
            )
            audit.record_change(
                session, principal, action=self.audit_action(changed),
                entity=self.resource.event_name, entity_id=record.id,  # type: ignore[attr-defined]
                before=before, after=audit.snapshot(record), fields=changed,
            )  # fmt: skip
        return record

    def after_update_children(
        self, session: Session, principal: Principal, record: M, data: BaseModel
    ) -> list[str]:
        """Replace child rows on update (without flushing); return the names of what changed."""
        return []

    def delete(
        self,
        session: Session,
        principal: Principal,
        record_id: uuid.UUID,
        *,
        expected_version: int | None = None,
    ) -> None:
        principal.require(self.resource.entity, Action.DELETE)
        record = self.get(session, principal, record_id)
        if expected_version is not None and expected_version != record.version:  # type: ignore[attr-defined]
            raise VersionConflict(
                f"You sent version {expected_version}, but the record is at version "
                f"{record.version}.",  # type: ignore[attr-defined]
                extra={"current_version": record.version},  # type: ignore[attr-defined]
            )
        self.before_delete(session, principal, record)
        data = {"id": str(record.id)}  # type: ignore[attr-defined]
        before = audit.snapshot(record)
        session.delete(record)
        session.flush()
        events.record(
            session,
            principal,
            type=f"{self.resource.event_name}.deleted",
            entity=self.resource.event_name,
            entity_id=uuid.UUID(data["id"]),
            data=data,
        )
        audit.record_change(
            session, principal, action=audit.AuditAction.DELETE, entity=self.resource.event_name,
            entity_id=uuid.UUID(data["id"]), before=before, after=None,
        )  # fmt: skip
