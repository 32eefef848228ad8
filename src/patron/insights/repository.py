"""The statements that read purchase data for analysis (streamed in chunks), and the reads of
stored insights and rules for the pages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Delete,
    Float,
    Insert,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Uuid,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from patron.customers.repository import child_scope
from patron.db.types import UTCDateTime
from patron.insights.models import AnalysisRun, AssociationRule, CustomerInsight
from patron.marketing.models import SegmentMember
from patron.sales.models import Deal, Order, OrderLine, PipelineStage, Product
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


def contact_events() -> Any:
    """Tickets opened and activities, one row each: customer, time, kind (churn features)."""
    from sqlalchemy import literal, union_all

    from patron.activities.models import Activity
    from patron.service.models import Ticket

    tickets = select(
        Ticket.customer_id.label("customer_id"),
        Ticket.opened_at.label("at"),
        literal("ticket").label("kind"),
    )
    activities = select(
        Activity.customer_id.label("customer_id"),
        Activity.occurred_at.label("at"),
        literal("activity").label("kind"),
    )
    return union_all(tickets, activities)


def basket_lines() -> Select[tuple[object, ...]]:
    return (
        select(OrderLine.order_id.label("order_id"), Product.sku.label("item"))
        .join(Order, Order.id == OrderLine.order_id)
        .join(Product, Product.id == OrderLine.product_id)
        .where(Order.status.not_in(NOT_PURCHASES))
        .order_by(OrderLine.order_id, Product.sku)
    )


def monthly_revenue(dialect: str) -> Select[tuple[Any, ...]]:
    """Purchases summed by UTC calendar month and currency, in month order: ``month``
    (``YYYY-MM``), ``currency``, ``orders`` and ``amount_minor``."""
    if dialect == "postgresql":
        month: Any = func.to_char(func.timezone("UTC", Order.ordered_at), "YYYY-MM")
    else:  # SQLite keeps times as naive-UTC ISO text
        month = func.substr(Order.ordered_at, 1, 7)
    return (
        select(
            month.label("month"),
            Order.currency.label("currency"),
            func.count().label("orders"),
            cast(func.sum(Order.total_minor), BigInteger).label("amount_minor"),
        )
        .where(Order.status.not_in(NOT_PURCHASES))
        .group_by(month, Order.currency)
        .order_by(month, Order.currency)
    )


def open_deals() -> Select[tuple[Any, ...]]:
    """Deals still open (not closed, in a stage neither won nor lost) with their stage's win
    probability (percent): ``amount_minor``, ``currency``, ``probability``,
    ``expected_close_on``, ``stage``."""
    return (
        select(
            Deal.amount_minor.label("amount_minor"),
            Deal.currency.label("currency"),
            PipelineStage.probability.label("probability"),
            Deal.expected_close_on.label("expected_close_on"),
            PipelineStage.name.label("stage"),
        )
        .join(PipelineStage, PipelineStage.id == Deal.stage_id)
        .where(
            Deal.closed_at.is_(None),
            PipelineStage.is_won.is_(False),
            PipelineStage.is_lost.is_(False),
        )
        .order_by(Deal.expected_close_on, Deal.id)
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


# ----- segmentation at scale: totals computed by the database, results written in bulk -------
def purchase_totals(dialect: str, *, before: datetime | None = None) -> Select[tuple[Any, ...]]:
    """Each customer's purchases in each currency, summed up by the database, in customer-id
    order (then currency; nearly every customer has one).

    Columns: ``customer_id`` (32 lowercase hex digits, as SQLite stores it), ``last_day`` (the
    UTC day of the last purchase, in days since 1970-01-01), ``purchases`` (orders),
    ``amount_minor`` (their totals added up, in minor units) and ``currency``. Only orders
    placed before ``before`` count, when given.
    """
    key: Any = Order.customer_id
    if dialect == "postgresql":
        customer = func.replace(cast(Order.customer_id, String), "-", "")
        utc_day = cast(func.timezone("UTC", func.max(Order.ordered_at)), Date)
        last_day = type_coerce(utc_day - cast(literal("1970-01-01"), Date), Integer)
    else:  # SQLite keeps ids as hex text and times as naive-UTC ISO text
        # Group by ``+customer_id``, which no index serves: SQLite then scans the table once and
        # sorts, where walking ix_order_customer_ordered would fetch every order row by row
        # (twice as slow, on a table much larger than the page cache).
        key = UnaryExpression(Order.customer_id, operator=custom_op("+"))
        customer = type_coerce(key, String)
        midnight = func.julianday(func.substr(func.max(Order.ordered_at), 1, 10))
        last_day = cast(midnight - 2440587.5, Integer)  # the Julian day of 1970-01-01
    statement = select(
        customer.label("customer_id"),
        last_day.label("last_day"),
        func.count().label("purchases"),
        cast(func.sum(Order.total_minor), BigInteger).label("amount_minor"),
        Order.currency.label("currency"),
    ).where(Order.status.not_in(NOT_PURCHASES))
    if before is not None:
        statement = statement.where(Order.ordered_at < before)
    return statement.group_by(key, Order.currency).order_by(key, Order.currency)


segmentation_rows = Table(
    "patron_segmentation_rows",
    MetaData(),
    Column("customer_id", Uuid, primary_key=True),
    Column("segment_id", Uuid, nullable=False),
    Column("segment_name", String(120), nullable=False),
    Column("recency_days", Float, nullable=False),
    Column("frequency", Integer, nullable=False),
    Column("monetary", Float, nullable=False),
    Column("rfm_score", String(3), nullable=False),
    Column("member_id", Uuid, nullable=False),
    Column("insight_id", Uuid, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
    sqlite_with_rowid=False,  # the rows are kept in customer order: no separate index
)
"""A segmentation's rows, loaded in bulk into a temporary table (this connection's own), then
spread into ``segment_member`` and ``customer_insight`` by the two statements below."""


def members_not_in_rows(segment_ids: list[uuid.UUID]) -> Delete:
    """The memberships of these segments that the rows no longer hold."""
    rows = segmentation_rows.c
    held = select(literal(1)).where(
        rows.customer_id == SegmentMember.customer_id, rows.segment_id == SegmentMember.segment_id
    )
    return delete(SegmentMember).where(SegmentMember.segment_id.in_(segment_ids), ~held.exists())


def members_from_rows(now: datetime) -> Insert:
    """The memberships the rows hold that are not there yet."""
    rows = segmentation_rows.c
    stamp = literal(now, UTCDateTime)
    there = select(literal(1)).where(
        SegmentMember.segment_id == rows.segment_id, SegmentMember.customer_id == rows.customer_id
    )
    return insert(SegmentMember).from_select(
        ["id", "segment_id", "customer_id", "added_at", "created_at", "updated_at", "version"],
        select(rows.member_id, rows.segment_id, rows.customer_id, stamp, stamp, stamp,
               literal(1, Integer)).where(~there.exists()),
    )  # fmt: skip


INSIGHT_COLUMNS = (
    "segment_id", "segment_name", "recency_days", "frequency", "monetary", "rfm_score",
    "segmentation_run_id",
)  # fmt: skip


def insights_from_rows(dialect: str, run_id: uuid.UUID, now: datetime) -> Insert:
    """Each customer's insight from the rows: inserted, or updated where the customer has one."""
    rows = segmentation_rows.c
    stamp = literal(now, UTCDateTime)
    source = select(
        rows.insight_id, rows.customer_id, rows.segment_id, rows.segment_name, rows.recency_days,
        rows.frequency, rows.monetary, rows.rfm_score, literal(run_id, Uuid), stamp, stamp,
        literal(1, Integer),
    ).where(true())  # fmt: skip
    # (SQLite reads ``INSERT … SELECT … ON CONFLICT`` right only with a WHERE in the SELECT.)
    module: Any = postgresql if dialect == "postgresql" else sqlite
    table = CustomerInsight.__table__
    statement = module.insert(table).from_select(
        ["id", "customer_id", *INSIGHT_COLUMNS, "created_at", "updated_at", "version"], source
    )
    return statement.on_conflict_do_update(
        index_elements=[table.c.customer_id],
        set_={
            **{name: getattr(statement.excluded, name) for name in INSIGHT_COLUMNS},
            "updated_at": statement.excluded.updated_at,
            "version": table.c.version + 1,
        },
    )


def products_bought_by(customer_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
    return (
        select(OrderLine.product_id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.customer_id == customer_id, Order.status.not_in(NOT_PURCHASES))
        .distinct()
    )


def latest_succeeded_run(kind: str) -> Select[tuple[AnalysisRun]]:
    return (
        select(AnalysisRun)
        .where(AnalysisRun.kind == kind, AnalysisRun.status == "succeeded")
        .order_by(AnalysisRun.finished_at.desc(), AnalysisRun.id.desc())
        .limit(1)
    )
