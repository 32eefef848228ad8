"""The generic service: permission, scope, validation hooks, version check, diff, event and audit.

Services flush; they never commit. The request, command or job that called them commits.
"""

from __future__ import annotations

import uuid
from typing import Any, Generic

from pydantic import BaseModel
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

    def after_write(self, session: Session, principal: Principal, record: M) -> None:
        """Called after create and update, once the row is flushed (e.g. to write children)."""

    def before_delete(self, session: Session, principal: Principal, record: M) -> None:
        """Raise to refuse a delete (e.g. a product still on orders)."""

    def audit_action(self, changed: list[str]) -> audit.AuditAction:
        """What the audit trail calls an update with these changed fields."""
        return audit.AuditAction.UPDATE

    def _check_unique(self, session: Session, values: dict[str, Any], record: M | None) -> None:
        noun = self.resource.event_name.replace("_", " ")
        for name in self.unique_fields:
            value = values.get(name)
            except_id = record.id if record is not None else None  # type: ignore[attr-defined]
            if value is not None and repository.value_taken(
                session, self.resource.model, name, value, except_id
            ):
                label = name.replace("_", " ")
                raise ValidationFailed.field(
                    name, f"Another {noun} already has this {label}.", "duplicate"
                )

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
        expected = expected_version if expected_version is not None else body_version
        if expected is not None and expected != record.version:  # type: ignore[attr-defined]
            raise VersionConflict(
                f"You sent version {expected}, but the record is at version "
                f"{record.version}; reload it and apply your change again.",  # type: ignore[attr-defined]
                extra={"current_version": record.version},  # type: ignore[attr-defined]
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
