"""Customer rules: scope, who may own a customer, company links."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session, selectinload

from patron.crud.repository import Resource
from patron.crud.service import CrudService
from patron.customers import repository
from patron.customers.models import Customer
from patron.customers.schemas import CustomerRead
from patron.errors import PermissionDenied, ValidationFailed
from patron.security import service as security
from patron.security.permissions import Principal, Role


class CustomerService(CrudService[Customer]):
    resource = Resource(
        entity="customers",
        event_name="customer",
        model=Customer,
        sort_fields={
            "name": Customer.name,
            "created_at": Customer.created_at,
            "updated_at": Customer.updated_at,
        },
        scope=repository.customer_scope,
        apply_filters=repository.apply_filters,
        load_options=(selectinload(Customer.insight),),
    )
    read_schema = CustomerRead
    not_found_message = "No such customer."
    unique_fields = ("external_id",)

    def _check_links(
        self,
        session: Session,
        principal: Principal,
        values: dict[str, Any],
        record: Customer | None = None,
    ) -> None:
        company_id = values.get("company_id")
        if company_id is not None:
            if record is not None and company_id == record.id:
                raise ValidationFailed.field("company_id", "A customer cannot be its own company.")
            if not repository.is_visible(session, principal, company_id):
                raise ValidationFailed.field("company_id", "No such company.", "not_found")
            if repository.kind_of(session, company_id) != "company":
                raise ValidationFailed.field(
                    "company_id", "company_id must name a customer of kind company.", "not_company"
                )
        kind = values.get("kind") or (record.kind if record else "person")
        linked = (
            values["company_id"] if "company_id" in values else getattr(record, "company_id", None)
        )
        if kind == "company" and linked is not None:
            raise ValidationFailed.field(
                "company_id", "Only people are linked to a company.", "not_person"
            )
        team_id = values.get("team_id")
        if team_id is not None and not security.team_exists(session, team_id):
            raise ValidationFailed.field("team_id", "No such team.", "not_found")
        owner_id = values.get("owner_id")
        owner_team: uuid.UUID | None = None
        if owner_id is not None:
            exists, owner_team = repository.user_team(session, owner_id)
            if not exists:
                raise ValidationFailed.field("owner_id", "No such user.", "not_found")
        self._check_assignment(principal, values, owner_team)

    @staticmethod
    def _check_assignment(
        principal: Principal, values: dict[str, Any], owner_team: uuid.UUID | None
    ) -> None:
        """Field-level rule: who may hand a customer to whom."""
        owner_id, team_id = values.get("owner_id"), values.get("team_id")
        if principal.role is Role.SALES:
            if owner_id is not None and owner_id != principal.user_id:
                raise PermissionDenied("Sales reps may only make themselves the owner.")
            if team_id is not None and team_id != principal.team_id:
                raise PermissionDenied("Sales reps may only assign customers to their own team.")
        elif principal.role is Role.MANAGER:
            if owner_id is not None and owner_team != principal.team_id:
                raise PermissionDenied("Managers may only assign owners from their own team.")
            if team_id is not None and team_id != principal.team_id:
                raise PermissionDenied("Managers may only assign customers to their own team.")

    def prepare_create(
        self, session: Session, principal: Principal, values: dict[str, Any]
    ) -> dict[str, Any]:
        if principal.team_scoped:
            if values.get("owner_id") is None and principal.role is Role.SALES:
                values["owner_id"] = principal.user_id
            if values.get("team_id") is None:
                values["team_id"] = principal.team_id
        self._check_links(session, principal, values)
        return values

    def prepare_update(
        self, session: Session, principal: Principal, record: Customer, values: dict[str, Any]
    ) -> dict[str, Any]:
        self._check_links(session, principal, values, record)
        return values


customers = CustomerService()


def is_visible(session: Session, principal: Principal, customer_id: uuid.UUID) -> bool:
    return repository.is_visible(session, principal, customer_id)


def visible_among(
    session: Session, principal: Principal, customer_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of ``customer_ids`` that exist within the caller's scope."""
    return repository.visible_among(session, principal, customer_ids)


def unreachable_among(session: Session, customer_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``customer_ids`` marketing may not address (opted out, or erased)."""
    return repository.unreachable_among(session, customer_ids)


def require_visible(
    session: Session, principal: Principal, customer_id: uuid.UUID, field: str = "customer_id"
) -> None:
    """For records that belong to a customer: the customer must exist within the caller's scope."""
    if not repository.is_visible(session, principal, customer_id):
        raise ValidationFailed.field(field, "No such customer.", "not_found")
