"""field encryption: encrypted columns become text, blind indexes for email and phone

Existing plain values stay readable; ``patron keys rotate`` encrypts them and fills the indexes
(keys never reach the migrations).

Revision ID: 6834226a1e65
Revises: 40a513ba249d
Create Date: 2026-11-25 22:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "6834226a1e65"
down_revision: str | None = "70fb23cfd9b0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
WIDTHS = {"email": 320, "phone": 40, "address_line1": 200, "address_line2": 200}


def upgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_email"))
        for name, width in WIDTHS.items():
            batch_op.alter_column(
                name, existing_type=sa.String(length=width), type_=sa.Text(), existing_nullable=True
            )
        batch_op.add_column(sa.Column("email_index", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("phone_index", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_customer_email_index"), ["email_index"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_phone_index"), ["phone_index"], unique=False)
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.alter_column(
            "data",
            existing_type=JSON_TYPE,
            type_=sa.Text(),
            existing_nullable=False,
            postgresql_using="data::text",
        )


def downgrade() -> None:
    # Encrypted values do not fit the old types: run this only on a database whose values were
    # never encrypted (or decrypt them first).
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.alter_column(
            "data",
            existing_type=sa.Text(),
            type_=JSON_TYPE,
            existing_nullable=False,
            postgresql_using="data::jsonb",
        )
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_phone_index"))
        batch_op.drop_index(batch_op.f("ix_customer_email_index"))
        batch_op.drop_column("phone_index")
        batch_op.drop_column("email_index")
        for name, width in WIDTHS.items():
            batch_op.alter_column(
                name, existing_type=sa.Text(), type_=sa.String(length=width), existing_nullable=True
            )
        batch_op.create_index(batch_op.f("ix_customer_email"), ["email"], unique=False)
