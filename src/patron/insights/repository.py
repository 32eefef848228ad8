"""The statements that read purchase data for analysis (streamed in chunks), and the reads of
stored insights and rules for the pages."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, select

from patron.customers.repository import child_scope
from patron.insights.models import AssociationRule, CustomerInsight
from patron.sales.models import Order, OrderLine, Product
from patron.security.permissions import Principal

# Orders that did not happen do not count as purchases.
NOT_PURCHASES = ("cancelled", "refunded")


def transactions() -> Select[tuple[object, ...]]:
    return (
        select(
            Order.customer_id.label("customer_id"),
            Order.id.label("order_id"),
            Order.ordered_at.label("ordered_at"),
            Order.total_minor.label("amount_minor"),
            Order.currency.label("currency"),
        )
        .where(Order.status.not_in(NOT_PURCHASES))
        .order_by(Order.ordered_at, Order.id)
    )


def basket_lines() -> Select[tuple[object, ...]]:
    return (
        select(OrderLine.order_id.label("order_id"), Product.sku.label("item"))
        .join(Order, Order.id == OrderLine.order_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(Order.status.not_in(NOT_PURCHASES))
        .order_by(OrderLine.order_id, Product.sku)
    )


def products_by_sku(skus: list[str]) -> Select[tuple[object, ...]]:
    return select(Product.sku, Product.id, Product.name).where(Product.sku.in_(skus))


# ----- reads for the pages --------------------------------------------------------------------
RULE_SORTS = {
    "lift": AssociationRule.lift,
    "confidence": AssociationRule.confidence,
    "support": AssociationRule.support,
}


def insights_for(
    customer_ids: list[uuid.UUID], principal: Principal
) -> Select[tuple[CustomerInsight]]:
    """The insights of these customers, among those the caller may see."""
    statement = select(CustomerInsight).where(CustomerInsight.customer_id.in_(customer_ids))
    scope = child_scope(principal, CustomerInsight.customer_id)
    return statement if scope is None else statement.where(scope)


def rules_of_run(
    run_id: uuid.UUID,
    *,
    text: str | None = None,
    min_confidence: float | None = None,
    min_lift: float | None = None,
) -> Select[tuple[AssociationRule]]:
    """A run's rules; ``text`` matches a product name on either side (case-insensitive)."""
    statement = select(AssociationRule).where(AssociationRule.run_id == run_id)
    if text:
        statement = statement.where(
            func.lower(AssociationRule.description).contains(text.lower(), autoescape=True)
        )
    if min_confidence is not None:
        statement = statement.where(AssociationRule.confidence >= min_confidence)
    if min_lift is not None:
        statement = statement.where(AssociationRule.lift >= min_lift)
    return statement


def sorted_slice(
    statement: Select[tuple[AssociationRule]], sort: str, *, limit: int, offset: int
) -> Select[tuple[AssociationRule]]:
    column = RULE_SORTS[sort.lstrip("-")]
    if sort.startswith("-"):
        order = (column.desc(), AssociationRule.id.desc())
    else:
        order = (column.asc(), AssociationRule.id.asc())
    return statement.order_by(*order).limit(limit).offset(offset)


def count_of(statement: Select[Any]) -> Select[tuple[int]]:
    return select(func.count()).select_from(statement.order_by(None).subquery())
