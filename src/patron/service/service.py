"""Ticket rules: times in order, resolution stamped when a ticket is resolved."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from patron.crud.repository import Resource
from patron.crud.service import CrudService, each
from patron.customers import service as customers
from patron.customers.repository import child_scope
from patron.errors import ValidationFailed
from patron.kit.clock import utcnow
from patron.security.models import User
from patron.security.permissions import Principal
from patron.service.models import Ticket
from patron.service.schemas import TicketRead


def _filters(statement: Select[Any], filters: Any) -> Select[Any]:
    for field in ("customer_id", "status", "priority", "channel", "assignee_id"):
        value = getattr(filters, field)
        if value is not None:
            statement = statement.where(getattr(Ticket, field) == value)
    if filters.opened_after:
        statement = statement.where(Ticket.opened_at >= filters.opened_after)
    if filters.opened_before:
        statement = statement.where(Ticket.opened_at < filters.opened_before)
    return statement


def _scope(principal: Principal) -> Any:
    return child_scope(principal, Ticket.customer_id)


class TicketService(CrudService[Ticket]):
    resource = Resource(
        entity="tickets",
        event_name="ticket",
        model=Ticket,
        sort_fields={
            "opened_at": Ticket.opened_at,
            "created_at": Ticket.created_at,
            "updated_at": Ticket.updated_at,
        },
        default_sort="-opened_at",
        scope=_scope,
        apply_filters=_filters,
    )
    read_schema = TicketRead
    not_found_message = "No such ticket."
    unique_fields = ("external_id",)

    @staticmethod
    def _check_times(opened: Any, first: Any, resolved: Any) -> None:
        if first is not None and first < opened:
            raise ValidationFailed.field(
                "first_response_at", "The first response cannot come before the ticket opened."
            )
        if resolved is not None and resolved < opened:
            raise ValidationFailed.field(
                "resolved_at", "A ticket cannot be resolved before it opened."
            )

    def _check_assignee(self, session: Session, values: dict[str, Any]) -> None:
        assignee = values.get("assignee_id")
        if assignee is not None and session.get(User, assignee) is None:
            raise ValidationFailed.field("assignee_id", "No such user.", "not_found")

    def prepare_create(
        self, session: Session, principal: Principal, values: dict[str, Any]
    ) -> dict[str, Any]:
        visible = customers.VisibleCustomers(session, principal, [values["customer_id"]])
        return self._prepare_create(session, visible, values)

    def prepare_create_many(
        self, session: Session, principal: Principal, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any] | ValidationFailed]:
        ids = [values.get("customer_id") for values in rows]
        visible = customers.VisibleCustomers(session, principal, ids)
        return each(rows, lambda values: self._prepare_create(session, visible, values))

    def _prepare_create(
        self, session: Session, visible: customers.VisibleCustomers, values: dict[str, Any]
    ) -> dict[str, Any]:
        visible.require(values["customer_id"])
        self._check_assignee(session, values)
        values["opened_at"] = values.get("opened_at") or utcnow()
        if values["status"] in ("resolved", "closed") and values.get("resolved_at") is None:
            values["resolved_at"] = utcnow()
        self._check_times(
            values["opened_at"], values.get("first_response_at"), values.get("resolved_at")
        )
        return values

    def prepare_update(
        self, session: Session, principal: Principal, record: Ticket, values: dict[str, Any]
    ) -> dict[str, Any]:
        self._check_assignee(session, values)
        status = values.get("status", record.status)
        if status in ("resolved", "closed") and record.resolved_at is None:
            values.setdefault("resolved_at", utcnow())
        elif status in ("open", "pending") and "status" in values:
            values.setdefault("resolved_at", None)
        self._check_times(
            record.opened_at,
            values.get("first_response_at", record.first_response_at),
            values.get("resolved_at", record.resolved_at),
        )
        return values


tickets = TicketService()
