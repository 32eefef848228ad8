"""Sales rules: order totals from their lines, deal probabilities from their stage, targets."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from patron.crud.repository import Resource
from patron.crud.service import CrudService, each
from patron.customers import service as customers
from patron.customers.repository import child_scope
from patron.errors import Conflict, ValidationFailed
from patron.kit.clock import utcnow
from patron.sales import repository
from patron.sales.models import Deal, Order, OrderLine, PipelineStage, Product, SalesTarget
from patron.sales.schemas import (
    DealRead,
    OrderRead,
    PipelineStageRead,
    ProductRead,
    SalesTargetRead,
)
from patron.security import service as security
from patron.security.models import User
from patron.security.permissions import Principal


# ----- products --------------------------------------------------------------------------------
class ProductService(CrudService[Product]):
    resource = Resource(
        entity="products",
        event_name="product",
        model=Product,
        sort_fields={
            "name": Product.name,
            "sku": Product.sku,
            "price_minor": Product.price_minor,
            "created_at": Product.created_at,
            "updated_at": Product.updated_at,
        },
        default_sort="name",
        apply_filters=repository.product_filters,
    )
    read_schema = ProductRead
    not_found_message = "No such product."
    unique_fields = ("sku",)

    def before_delete(self, session: Session, principal: Principal, record: Product) -> None:
        if repository.product_on_orders(session, record.id):
            raise Conflict(
                "The product is on orders; mark it inactive instead of deleting it.",
                code="product_in_use",
            )


products = ProductService()


# ----- orders ----------------------------------------------------------------------------------
def _order_scope(principal: Principal) -> Any:
    return child_scope(principal, Order.customer_id)


def _build_lines(
    found: dict[uuid.UUID, Product], lines: list[dict[str, Any]], currency: str
) -> tuple[list[OrderLine], int]:
    """The order's lines from ``found`` (the products they name, looked up ahead)."""
    built: list[OrderLine] = []
    total = 0
    for index, line in enumerate(lines):
        product = found.get(line["product_id"])
        if product is None:
            raise ValidationFailed.field(
                f"lines.{index}.product_id", "No such product.", "not_found"
            )
        price = line.get("unit_price_minor")
        if price is None:
            if product.currency != currency:
                raise ValidationFailed.field(
                    f"lines.{index}.unit_price_minor",
                    f"The product is priced in {product.currency}, the order in {currency}; "
                    "give the unit price.",
                    "currency_mismatch",
                )
            price = product.price_minor
        built.append(
            OrderLine(product_id=product.id, quantity=line["quantity"], unit_price_minor=price)
        )
        total += line["quantity"] * price
    return built, total


class _OrderChecks:
    """What the order rules look up for some new orders, asked once for all of them: which
    customers the caller may see, the products the lines name, the numbers already taken."""

    def __init__(self, session: Session, principal: Principal, rows: list[dict[str, Any]]) -> None:
        self.visible = customers.VisibleCustomers(
            session, principal, [values.get("customer_id") for values in rows]
        )
        self.products = repository.products_by_id(
            session, (line["product_id"] for values in rows for line in values.get("lines") or ())
        )
        numbers = {values["number"] for values in rows if values.get("number")}
        self.numbers_taken = repository.order_numbers_taken(session, numbers)


class OrderService(CrudService[Order]):
    resource = Resource(
        entity="orders",
        event_name="order",
        model=Order,
        sort_fields={
            "ordered_at": Order.ordered_at,
            "total_minor": Order.total_minor,
            "number": Order.number,
            "created_at": Order.created_at,
        },
        default_sort="-ordered_at",
        scope=_order_scope,
        apply_filters=repository.order_filters,
        load_options=(selectinload(Order.lines),),
    )
    read_schema = OrderRead
    not_found_message = "No such order."
    unique_fields = ("external_id",)  # numbers: checked with the batch (_OrderChecks)

    def _prepare_create(self, checks: _OrderChecks, values: dict[str, Any]) -> dict[str, Any]:
        checks.visible.require(values["customer_id"])
        lines, total = _build_lines(checks.products, values.pop("lines"), values["currency"])
        if values.get("number") is None:
            values["number"] = f"SO-{utcnow():%Y%m%d}-{secrets.token_hex(4).upper()}"
        elif values["number"] in checks.numbers_taken:
            raise ValidationFailed.field("number", "An order with this number exists.", "duplicate")
        checks.numbers_taken.add(values["number"])
        if values.get("ordered_at") is None:
            values["ordered_at"] = utcnow()
        values["lines"] = lines
        values["total_minor"] = total
        return values

    def prepare_create(
        self, session: Session, principal: Principal, values: dict[str, Any]
    ) -> dict[str, Any]:
        return self._prepare_create(_OrderChecks(session, principal, [values]), values)

    def prepare_create_many(
        self, session: Session, principal: Principal, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any] | ValidationFailed]:
        checks = _OrderChecks(session, principal, rows)
        return each(rows, lambda values: self._prepare_create(checks, values))

    def prepare_update(
        self, session: Session, principal: Principal, record: Order, values: dict[str, Any]
    ) -> dict[str, Any]:
        values.pop("lines", None)  # replaced in after_update_children
        return values

    def after_update_children(
        self, session: Session, principal: Principal, record: Order, data: BaseModel
    ) -> list[str]:
        if "lines" not in data.model_fields_set:
            return []
        wanted = [line.model_dump() for line in data.lines]  # type: ignore[attr-defined]
        found = repository.products_by_id(session, (line["product_id"] for line in wanted))
        lines, total = _build_lines(found, wanted, record.currency)
        old = [(line.product_id, line.quantity, line.unit_price_minor) for line in record.lines]
        new = [(line.product_id, line.quantity, line.unit_price_minor) for line in lines]
        if old == new:
            return []
        record.lines[:] = lines
        changed = ["lines"]
        if record.total_minor != total:
            record.total_minor = total
            changed.append("total_minor")
        return changed


orders = OrderService()


# ----- pipeline stages -------------------------------------------------------------------------
class PipelineStageService(CrudService[PipelineStage]):
    resource = Resource(
        entity="pipeline_stages",
        event_name="pipeline_stage",
        model=PipelineStage,
        sort_fields={"position": PipelineStage.position, "name": PipelineStage.name},
        default_sort="position",
    )
    read_schema = PipelineStageRead
    not_found_message = "No such pipeline stage."

    def prepare_update(
        self, session: Session, principal: Principal, record: PipelineStage, values: dict[str, Any]
    ) -> dict[str, Any]:
        won = values.get("is_won", record.is_won)
        lost = values.get("is_lost", record.is_lost)
        if won and lost:
            raise ValidationFailed.field("is_lost", "A stage is won or lost, not both.")
        return values

    def before_delete(self, session: Session, principal: Principal, record: PipelineStage) -> None:
        if repository.stage_in_use(session, record.id):
            raise Conflict("Deals are in this stage; move them first.", code="stage_in_use")


pipeline_stages = PipelineStageService()


# ----- deals -----------------------------------------------------------------------------------
def _deal_scope(principal: Principal) -> Any:
    return child_scope(principal, Deal.customer_id)


class DealService(CrudService[Deal]):
    resource = Resource(
        entity="deals",
        event_name="deal",
        model=Deal,
        sort_fields={
            "created_at": Deal.created_at,
            "updated_at": Deal.updated_at,
            "amount_minor": Deal.amount_minor,
            "title": Deal.title,
        },
        scope=_deal_scope,
        apply_filters=repository.deal_filters,
    )
    read_schema = DealRead
    not_found_message = "No such deal."
    unique_fields = ("external_id",)

    def _apply_stage(self, session: Session, values: dict[str, Any], record: Deal | None) -> None:
        stage_id = values.get("stage_id")
        if stage_id is None:
            return
        stage = repository.stage(session, stage_id)
        if stage is None:
            raise ValidationFailed.field("stage_id", "No such pipeline stage.", "not_found")
        moved = record is None or record.stage_id != stage_id
        if moved and values.get("probability") is None:
            values["probability"] = stage.probability
        if stage.is_won or stage.is_lost:
            if record is None or record.closed_at is None or moved:
                values["closed_at"] = utcnow()
        elif record is not None and record.closed_at is not None:
            values["closed_at"] = None

    def _check_owner(self, session: Session, values: dict[str, Any]) -> None:
        owner_id = values.get("owner_id")
        if owner_id is not None and session.get(User, owner_id) is None:
            raise ValidationFailed.field("owner_id", "No such user.", "not_found")

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
        if values.get("stage_id") is None:
            first = repository.first_stage(session)
            if first is None:
                raise ValidationFailed.field(
                    "stage_id", "There are no pipeline stages yet; create one first.", "no_stages"
                )
            values["stage_id"] = first.id
        if values.get("owner_id") is None:
            values["owner_id"] = principal.user_id
        self._check_owner(session, values)
        self._apply_stage(session, values, None)
        return values

    def prepare_update(
        self, session: Session, principal: Principal, record: Deal, values: dict[str, Any]
    ) -> dict[str, Any]:
        self._check_owner(session, values)
        self._apply_stage(session, values, record)
        return values


deals = DealService()


# ----- sales targets ---------------------------------------------------------------------------
def _target_scope(principal: Principal) -> Any:
    if not principal.team_scoped:
        return None
    team_users = select(User.id).where(User.team_id == principal.team_id)
    return or_(
        SalesTarget.user_id == principal.user_id,
        SalesTarget.team_id == principal.team_id,
        SalesTarget.user_id.in_(team_users),
    )


class SalesTargetService(CrudService[SalesTarget]):
    resource = Resource(
        entity="sales_targets",
        event_name="sales_target",
        model=SalesTarget,
        sort_fields={
            "period_start": SalesTarget.period_start,
            "created_at": SalesTarget.created_at,
            "amount_minor": SalesTarget.amount_minor,
        },
        default_sort="-period_start",
        scope=_target_scope,
        apply_filters=repository.target_filters,
    )
    read_schema = SalesTargetRead
    not_found_message = "No such sales target."

    def prepare_create(
        self, session: Session, principal: Principal, values: dict[str, Any]
    ) -> dict[str, Any]:
        if values.get("user_id") is not None and session.get(User, values["user_id"]) is None:
            raise ValidationFailed.field("user_id", "No such user.", "not_found")
        if values.get("team_id") is not None and not security.team_exists(
            session, values["team_id"]
        ):
            raise ValidationFailed.field("team_id", "No such team.", "not_found")
        return values

    def prepare_update(
        self, session: Session, principal: Principal, record: SalesTarget, values: dict[str, Any]
    ) -> dict[str, Any]:
        start = values.get("period_start", record.period_start)
        end = values.get("period_end", record.period_end)
        if end < start:
            raise ValidationFailed.field("period_end", "period_end lies before period_start.")
        return values


sales_targets = SalesTargetService()
