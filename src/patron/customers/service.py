"""Customer rules: scope, who may own a customer, company links."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session, selectinload

from patron.crud.repository import Resource
from patron.crud.service import CrudService, each
from patron.customers import repository
from patron.customers.models import Customer
from patron.customers.schemas import CustomerRead
from patron.errors import PermissionDenied, ValidationFailed
from patron.security import service as security
from patron.security.permissions import Principal, Role


class CustomerChecks:
    """What the customer rules ask the database: one question at a time for a single write, or
    for a batch (``create_many``, ``update_many``) with the external ids asked once and every
    other answer kept, so a batch of a thousand customers asks a handful of questions."""

    _NEW = uuid.UUID(int=0)  # stands for a record of the batch that has no id yet

    def __init__(
        self, session: Session, principal: Principal, external_ids: Iterable[str] | None = None
    ) -> None:
        self.session, self.principal = session, principal
        self._owners: dict[str, uuid.UUID] | None = None
        if external_ids is not None:
            self._owners = repository.external_id_owners(session, set(external_ids))
        self._answers: dict[tuple[str, uuid.UUID], Any] = {}

    def external_id_taken(self, external_id: str, except_id: uuid.UUID | None) -> bool:
        if self._owners is None:
            return repository.external_id_taken(self.session, external_id, except_id)
        owner = self._owners.get(external_id)
        return owner is not None and owner != except_id

    def claim(self, external_id: str | None, record: Customer | None) -> None:
        """A batch's item took ``external_id``: later items of the batch see it taken."""
        if self._owners is None or not external_id:
            return
        if record is not None and record.external_id and record.external_id != external_id:
            self._owners.pop(record.external_id, None)  # the record lets its old one go
        self._owners[external_id] = record.id if record is not None else self._NEW

    def _ask(self, question: str, about: uuid.UUID, ask: Callable[[], Any]) -> Any:
        key = (question, about)
        if key not in self._answers:
            self._answers[key] = ask()
        return self._answers[key]

    def is_visible(self, customer_id: uuid.UUID) -> bool:
        return bool(
            self._ask(
                "visible",
                customer_id,
                lambda: repository.is_visible(self.session, self.principal, customer_id),
            )
        )

    def kind_of(self, customer_id: uuid.UUID) -> str | None:
        kind = self._ask("kind", customer_id, lambda: repository.kind_of(self.session, customer_id))
        return kind if isinstance(kind, str) else None

    def team_exists(self, team_id: uuid.UUID) -> bool:
        return bool(self._ask("team", team_id, lambda: security.team_exists(self.session, team_id)))

    def user_team(self, user_id: uuid.UUID) -> tuple[bool, uuid.UUID | None]:
        answer = self._ask("user", user_id, lambda: repository.user_team(self.session, user_id))
        return answer  # type: ignore[no-any-return]


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

    def _check_links(
        self,
        checks: CustomerChecks,
        values: dict[str, Any],
        record: Customer | None = None,
    ) -> None:
        company_id = values.get("company_id")
        if company_id is not None:
            if record is not None and company_id == record.id:
                raise ValidationFailed.field("company_id", "A customer cannot be its own company.")
            if not checks.is_visible(company_id):
                raise ValidationFailed.field("company_id", "No such company.", "not_found")
            if checks.kind_of(company_id) != "company":
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
        external_id = values.get("external_id")
        if external_id and checks.external_id_taken(external_id, record.id if record else None):
            raise ValidationFailed.field(
                "external_id", "Another customer already has this external id.", "duplicate"
            )
        team_id = values.get("team_id")
        if team_id is not None and not checks.team_exists(team_id):
            raise ValidationFailed.field("team_id", "No such team.", "not_found")
        owner_id = values.get("owner_id")
        owner_team: uuid.UUID | None = None
        if owner_id is not None:
            exists, owner_team = checks.user_team(owner_id)
            if not exists:
                raise ValidationFailed.field("owner_id", "No such user.", "not_found")
        self._check_assignment(checks.principal, values, owner_team)
        checks.claim(external_id, record)

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

    def _prepare_create(self, checks: CustomerChecks, values: dict[str, Any]) -> dict[str, Any]:
        principal = checks.principal
        if principal.team_scoped:
            if values.get("owner_id") is None and principal.role is Role.SALES:
                values["owner_id"] = principal.user_id
            if values.get("team_id") is None:
                values["team_id"] = principal.team_id
        self._check_links(checks, values)
        return values

    def prepare_create(
        self, session: Session, principal: Principal, values: dict[str, Any]
    ) -> dict[str, Any]:
        return self._prepare_create(CustomerChecks(session, principal), values)

    def prepare_create_many(
        self, session: Session, principal: Principal, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any] | ValidationFailed]:
        checks = CustomerChecks(session, principal, _external_ids(rows))
        return each(rows, lambda values: self._prepare_create(checks, values))

    def prepare_update(
        self, session: Session, principal: Principal, record: Customer, values: dict[str, Any]
    ) -> dict[str, Any]:
        self._check_links(CustomerChecks(session, principal), values, record)
        return values

    def prepare_update_many(
        self, session: Session, principal: Principal, pairs: list[tuple[Customer, dict[str, Any]]]
    ) -> list[dict[str, Any] | ValidationFailed]:
        checks = CustomerChecks(session, principal, _external_ids(values for _, values in pairs))

        def prepare(pair: tuple[Customer, dict[str, Any]]) -> dict[str, Any]:
            record, values = pair
            self._check_links(checks, values, record)
            return values

        return each(pairs, prepare)


def _external_ids(rows: Iterable[dict[str, Any]]) -> list[str]:
    return [values["external_id"] for values in rows if values.get("external_id")]


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
    VisibleCustomers(session, principal, [customer_id]).require(customer_id, field)


class VisibleCustomers:
    """``require_visible`` for a batch of records that belong to customers (an import's orders,
    tickets...): which of their customers the caller may see is asked once, for all of them."""

    def __init__(
        self, session: Session, principal: Principal, customer_ids: Iterable[uuid.UUID | None]
    ) -> None:
        wanted = list({customer_id for customer_id in customer_ids if customer_id is not None})
        self.ids = repository.visible_among(session, principal, wanted) if wanted else set()

    def require(self, customer_id: uuid.UUID, field: str = "customer_id") -> None:
        if customer_id not in self.ids:
            raise ValidationFailed.field(field, "No such customer.", "not_found")
