"""Every statement about products, orders, deals, stages and targets."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session

from patron.sales.models import Deal, Order, OrderLine, PipelineStage, Product, SalesTarget


def product_filters(statement: Select[Any], filters: Any) -> Select[Any]:
    if filters.q:
        needle = filters.q.strip().lower()
        statement = statement.where(
            or_(
                func.lower(Product.name).contains(needle, autoescape=True),
                func.lower(Product.sku).contains(needle, autoescape=True),
            )
        )
    if filters.category:
        statement = statement.where(Product.category == filters.category)
    if filters.is_active is not None:
        statement = statement.where(Product.is_active == filters.is_active)
    return statement


def order_filters(statement: Select[Any], filters: Any) -> Select[Any]:
    if filters.customer_id:
        statement = statement.where(Order.customer_id == filters.customer_id)
    if filters.status:
        statement = statement.where(Order.status == filters.status)
    if filters.ordered_after:
        statement = statement.where(Order.ordered_at >= filters.ordered_after)
    if filters.ordered_before:
        statement = statement.where(Order.ordered_at < filters.ordered_before)
    return statement


def deal_filters(statement: Select[Any], filters: Any) -> Select[Any]:
    for field in ("customer_id", "stage_id", "owner_id"):
        value = getattr(filters, field)
        if value is not None:
            statement = statement.where(getattr(Deal, field) == value)
    if filters.open is not None:
        closed = select(PipelineStage.id).where(or_(PipelineStage.is_won, PipelineStage.is_lost))
        condition = Deal.stage_id.in_(closed)
        statement = statement.where(~condition if filters.open else condition)
    if filters.close_after:
        statement = statement.where(Deal.expected_close_on >= filters.close_after)
    if filters.close_before:
        statement = statement.where(Deal.expected_close_on < filters.close_before)
    return statement


def target_filters(statement: Select[Any], filters: Any) -> Select[Any]:
    if filters.user_id:
        statement = statement.where(SalesTarget.user_id == filters.user_id)
    if filters.team_id:
        statement = statement.where(SalesTarget.team_id == filters.team_id)
    if filters.active_on:
        statement = statement.where(
            SalesTarget.period_start <= filters.active_on,
            SalesTarget.period_end >= filters.active_on,
        )
    return statement


def products_by_id(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Product]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(wanted)))}


def product_on_orders(session: Session, product_id: uuid.UUID) -> bool:
    return bool(session.scalar(select(exists().where(OrderLine.product_id == product_id))))


def stage_in_use(session: Session, stage_id: uuid.UUID) -> bool:
    return bool(session.scalar(select(exists().where(Deal.stage_id == stage_id))))


def first_stage(session: Session) -> PipelineStage | None:
    return session.scalars(
        select(PipelineStage).order_by(PipelineStage.position, PipelineStage.name).limit(1)
    ).first()


def stage(session: Session, stage_id: uuid.UUID) -> PipelineStage | None:
    return session.get(PipelineStage, stage_id)


def order_numbers_taken(session: Session, numbers: set[str]) -> set[str]:
    """Those of ``numbers`` an order has already."""
    if not numbers:
        return set()
    return set(session.scalars(select(Order.number).where(Order.number.in_(numbers))))
