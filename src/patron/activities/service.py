"""Activity rules: a linked deal or ticket belongs to the same customer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from patron.activities.models import Activity
from patron.activities.schemas import ActivityRead
from patron.crud.repository import Resource
from patron.crud.service import CrudService, each
from patron.customers import service as customers
from patron.customers.repository import child_scope
from patron.errors import ValidationFailed
from patron.kit.clock import utcnow
from patron.sales.models import Deal
from patron.security.models import User
from patron.security.permissions import Principal
from patron.service.models import Ticket


def _filters(statement: Select[Any], filters: Any) -> Select[Any]:
    for field in ("customer_id", "type", "user_id", "deal_id", "ticket_id"):
        value = getattr(filters, field)
        if value is not None:
            statement = statement.where(getattr(Activity, field) == value)
    if filters.occurred_after:
        statement = statement.where(Activity.occurred_at >= filters.occurred_after)
    if filters.occurred_before:
        statement = statement.where(Activity.occurred_at < filters.occurred_before)
    return statement


def _scope(principal: Principal) -> Any:
    return child_scope(principal, Activity.customer_id)


class ActivityService(CrudService[Activity]):
    resource = Resource(
        entity="activities",
        event_name="activity",
        model=Activity,
        sort_fields={"occurred_at": Activity.occurred_at, "created_at": Activity.created_at},
        default_sort="-occurred_at",
        scope=_scope,
        apply_filters=_filters,
    )
    read_schema = ActivityRead
    not_found_message = "No such activity."
    unique_fields = ("external_id",)

    def _check_links(self, session: Session, customer_id: Any, values: dict[str, Any]) -> None:
        for field, model in (("deal_id", Deal), ("ticket_id", Ticket)):
            linked_id = values.get(field)
            if linked_id is None:
                continue
            linked = session.get(model, linked_id)
            if linked is None or linked.customer_id != customer_id:
                raise ValidationFailed.field(
                    field, f"No such {field[:-3]} for this customer.", "not_found"
                )
        user_id = values.get("user_id")
        if user_id is not None and session.get(User, user_id) is None:
            raise ValidationFailed.field("user_id", "No such user.", "not_found")

    def prepare_create(
        self, session: Session, principal: Principal, values: dict[str, Any]
    ) -> dict[str, Any]:
        visible = customers.VisibleCustomers(session, principal, [values["customer_id"]])
        return self._prepare_create(session, principal, visible, values)

    def prepare_create_many(
        self, session: Session, principal: Principal, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any] | ValidationFailed]:
        ids = [values.get("customer_id") for values in rows]
        visible = customers.VisibleCustomers(session, principal, ids)
        return each(rows, lambda values: self._prepare_create(session, principal, visible, values))

    def _prepare_create(
        self,
        session: Session,
        principal: Principal,
        visible: customers.VisibleCustomers,
        values: dict[str, Any],
    ) -> dict[str, Any]:
        visible.require(values["customer_id"])
        values["occurred_at"] = values.get("occurred_at") or utcnow()
        if values.get("user_id") is None:
            values["user_id"] = principal.user_id
        self._check_links(session, values["customer_id"], values)
        return values

    def prepare_update(
        self, session: Session, principal: Principal, record: Activity, values: dict[str, Any]
    ) -> dict[str, Any]:
        self._check_links(session, record.customer_id, values)
        return values


activities = ActivityService()
