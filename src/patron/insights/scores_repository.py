"""The statements that store customer scores in bulk: a temporary table of one row per scored
customer, spread into ``customer_insight`` by one upsert, and the scores of earlier runs that
this run no longer gives cleared by one update."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Insert,
    Integer,
    MetaData,
    Table,
    Update,
    Uuid,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from patron.customers.models import Customer
from patron.db.types import UTCDateTime
from patron.insights.models import CustomerInsight

#: The score columns each kind of run writes, and the column naming the run that wrote them.
SCORE_COLUMNS: dict[str, tuple[str, ...]] = {
    "clv": ("p_alive", "expected_purchases", "clv"),
    "churn": ("churn_risk",),
}
RUN_COLUMNS = {"clv": "clv_run_id", "churn": "churn_run_id"}


def score_rows(kind: str) -> Table:
    """A temporary table (this connection's own) for one run's scores."""
    return Table(
        "patron_score_rows",
        MetaData(),
        Column("customer_id", Uuid, primary_key=True),
        Column("insight_id", Uuid, nullable=False),
        *[Column(name, Float, nullable=False) for name in SCORE_COLUMNS[kind]],
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
        sqlite_with_rowid=False,
    )


def insights_from_scores(
    dialect: str, rows: Table, kind: str, run_id: uuid.UUID, now: datetime
) -> Insert:
    """Each scored customer's insight: inserted, or its scores updated where it has one.

    Customers deleted since the data was read are skipped."""
    columns = SCORE_COLUMNS[kind]
    stamp = literal(now, UTCDateTime)
    source = select(
        rows.c.insight_id, rows.c.customer_id, *[rows.c[name] for name in columns],
        literal(run_id, Uuid), stamp, stamp, literal(1, Integer),
    ).where(rows.c.customer_id.in_(select(Customer.id)))  # fmt: skip
    module: Any = postgresql if dialect == "postgresql" else sqlite
    table = CustomerInsight.__table__
    written = [*columns, RUN_COLUMNS[kind]]
    statement = module.insert(table).from_select(
        ["id", "customer_id", *written, "created_at", "updated_at", "version"],
        source.where(true()),
    )
    return statement.on_conflict_do_update(
        index_elements=[table.c.customer_id],
        set_={
            **{name: getattr(statement.excluded, name) for name in written},
            "updated_at": statement.excluded.updated_at,
            "version": table.c.version + 1,
        },
    )


def clear_other_runs(kind: str, run_id: uuid.UUID, now: datetime) -> Update:
    """Scores of this kind from earlier runs, for customers this run did not score."""
    run_column = getattr(CustomerInsight, RUN_COLUMNS[kind])
    values: dict[str, Any] = dict.fromkeys(SCORE_COLUMNS[kind])
    values[RUN_COLUMNS[kind]] = None
    return (
        update(CustomerInsight)
        .where(run_column.is_not(None), run_column != run_id)
        .values(**values, updated_at=now, version=CustomerInsight.version + 1)
        .execution_options(synchronize_session=False)
    )
