"""customer scores: p_alive, expected purchases, clv, churn risk and the runs behind them

Revision ID: 345180e2b086
Revises: 40a513ba249d
Create Date: 2026-11-25 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "345180e2b086"
down_revision: str | None = "2d576a154e8b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer_insight", schema=None) as batch_op:
        batch_op.add_column(sa.Column("p_alive", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("expected_purchases", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("clv", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("clv_run_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("churn_risk", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("churn_run_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_customer_insight_p_alive"), ["p_alive"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_insight_clv"), ["clv"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_customer_insight_churn_risk"), ["churn_risk"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_customer_insight_clv_run_id_analysis_run"),
            "analysis_run",
            ["clv_run_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_customer_insight_churn_run_id_analysis_run"),
            "analysis_run",
            ["churn_run_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("customer_insight", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_customer_insight_churn_run_id_analysis_run"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_customer_insight_clv_run_id_analysis_run"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_customer_insight_churn_risk"))
        batch_op.drop_index(batch_op.f("ix_customer_insight_clv"))
        batch_op.drop_index(batch_op.f("ix_customer_insight_p_alive"))
        batch_op.drop_column("churn_run_id")
        batch_op.drop_column("churn_risk")
        batch_op.drop_column("clv_run_id")
        batch_op.drop_column("clv")
        batch_op.drop_column("expected_purchases")
        batch_op.drop_column("p_alive")
