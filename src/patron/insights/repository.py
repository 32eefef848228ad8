"""The statements that read purchase data for analysis, streamed in chunks."""

from __future__ import annotations

from sqlalchemy import Select, select

from patron.sales.models import Order, OrderLine, Product

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
