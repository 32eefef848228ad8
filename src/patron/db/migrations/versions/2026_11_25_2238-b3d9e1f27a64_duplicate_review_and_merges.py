"""duplicate review and merges

Revision ID: b3d9e1f27a64
Revises: 7c1e5a9d3b20
Create Date: 2026-11-25 22:38:11.251862
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import patron.db.types

revision: str = "b3d9e1f27a64"
down_revision: str | None = "7c1e5a9d3b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_merge",
        sa.Column("survivor_id", sa.Uuid(), nullable=False),
        sa.Column("merged_id", sa.Uuid(), nullable=False),
        sa.Column(
            "moved",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "survivor_before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("survivor_version", sa.Integer(), nullable=False),
        sa.Column("merged_by", sa.Uuid(), nullable=True),
        sa.Column("undone_at", patron.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", patron.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", patron.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_by"],
            ["user_account.id"],
            name=op.f("fk_customer_merge_merged_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["merged_id"],
            ["customer.id"],
            name=op.f("fk_customer_merge_merged_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["survivor_id"],
            ["customer.id"],
            name=op.f("fk_customer_merge_survivor_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_merge")),
    )
    with op.batch_alter_table("customer_merge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_merge_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_customer_merge_merged_id"), ["merged_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_customer_merge_survivor_id"), ["survivor_id"], unique=False
        )

    op.create_table(
        "duplicate_pair",
        sa.Column("left_id", sa.Uuid(), nullable=False),
        sa.Column("right_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column(
            "explanation",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", patron.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", patron.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", patron.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["user_account.id"],
            name=op.f("fk_duplicate_pair_decided_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["left_id"],
            ["customer.id"],
            name=op.f("fk_duplicate_pair_left_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["right_id"],
            ["customer.id"],
            name=op.f("fk_duplicate_pair_right_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_pair")),
        sa.UniqueConstraint("left_id", "right_id", name=op.f("uq_duplicate_pair_left_id_right_id")),
    )
    with op.batch_alter_table("duplicate_pair", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_duplicate_pair_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_duplicate_pair_right_id"), ["right_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_duplicate_pair_score"), ["score"], unique=False)
        batch_op.create_index(batch_op.f("ix_duplicate_pair_status"), ["status"], unique=False)

    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_customer_merged_into_id"), ["merged_into_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_customer_merged_into_id_customer"),
            "customer",
            ["merged_into_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_customer_merged_into_id_customer"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_customer_merged_into_id"))
        batch_op.drop_column("merged_into_id")

    with op.batch_alter_table("duplicate_pair", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duplicate_pair_status"))
        batch_op.drop_index(batch_op.f("ix_duplicate_pair_score"))
        batch_op.drop_index(batch_op.f("ix_duplicate_pair_right_id"))
        batch_op.drop_index(batch_op.f("ix_duplicate_pair_created_at"))

    op.drop_table("duplicate_pair")
    with op.batch_alter_table("customer_merge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_merge_survivor_id"))
        batch_op.drop_index(batch_op.f("ix_customer_merge_merged_id"))
        batch_op.drop_index(batch_op.f("ix_customer_merge_created_at"))

    op.drop_table("customer_merge")
