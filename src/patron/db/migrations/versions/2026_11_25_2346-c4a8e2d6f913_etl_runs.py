"""etl runs

Revision ID: c4a8e2d6f913
Revises: 9e2f4b7c1a85
Create Date: 2026-11-25 23:46:32.429022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import patron.db.types

revision: str = "c4a8e2d6f913"
down_revision: str | None = "9e2f4b7c1a85"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "etl_run",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("entity", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", patron.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", patron.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("watermark_from", sa.String(length=100), nullable=True),
        sa.Column("watermark_to", sa.String(length=100), nullable=True),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("unchanged", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("import_id", sa.Uuid(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["import_run.id"],
            name=op.f("fk_etl_run_import_id_import_run"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_etl_run")),
    )
    with op.batch_alter_table("etl_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_etl_run_name"), ["name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("etl_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_etl_run_name"))

    op.drop_table("etl_run")
