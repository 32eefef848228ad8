"""privacy consent erasure

Revision ID: 7c1e5a9d3b20
Revises: 40a513ba249d
Create Date: 2026-11-25 22:18:39.994067
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import patron.db.types

revision: str = "7c1e5a9d3b20"
down_revision: str | None = "40a513ba249d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasure",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("erased_at", patron.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column(
            "summary",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure")),
    )
    with op.batch_alter_table("erasure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erasure_customer_id"), ["customer_id"], unique=False)

    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "marketing_consent", sa.String(length=10), nullable=False, server_default="unknown"
            )
        )
        batch_op.add_column(
            sa.Column("consent_at", patron.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("consent_source", sa.String(length=60), nullable=True))
        batch_op.add_column(
            sa.Column("erased_at", patron.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_customer_marketing_consent"), ["marketing_consent"], unique=False
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_customer_marketing_consent"),
            "marketing_consent IN ('opted_in', 'opted_out', 'unknown')",
        )


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_customer_marketing_consent"), type_="check")
        batch_op.drop_index(batch_op.f("ix_customer_marketing_consent"))
        batch_op.drop_column("erased_at")
        batch_op.drop_column("consent_source")
        batch_op.drop_column("consent_at")
        batch_op.drop_column("marketing_consent")

    with op.batch_alter_table("erasure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_customer_id"))

    op.drop_table("erasure")
