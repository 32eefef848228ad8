"""encrypt the raw phone, webhook secrets and bodies, and import records' old values

Revision ID: 9e2f4b7c1a85
Revises: 6834226a1e65
Create Date: 2026-11-25 23:40:00

Values written before this revision stay readable (a value that is not an envelope is read as
it is); ``patron keys rotate`` encrypts them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "9e2f4b7c1a85"
down_revision: str | None = "6834226a1e65"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_raw", sa.Text(), nullable=True))
    with op.batch_alter_table("import_record", schema=None) as batch_op:
        batch_op.alter_column(
            "previous",
            existing_type=JSON,
            type_=sa.Text(),
            existing_nullable=True,
            postgresql_using="previous::text",
        )
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.String(length=120), type_=sa.Text(), existing_nullable=False
        )
        batch_op.alter_column(
            "previous_secret",
            existing_type=sa.String(length=120),
            type_=sa.Text(),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.alter_column(
            "previous_secret",
            existing_type=sa.Text(),
            type_=sa.String(length=120),
            existing_nullable=True,
        )
        batch_op.alter_column(
            "secret", existing_type=sa.Text(), type_=sa.String(length=120), existing_nullable=False
        )
    with op.batch_alter_table("import_record", schema=None) as batch_op:
        batch_op.alter_column(
            "previous",
            existing_type=sa.Text(),
            type_=JSON,
            existing_nullable=True,
            postgresql_using="previous::jsonb",
        )
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("phone_raw")
