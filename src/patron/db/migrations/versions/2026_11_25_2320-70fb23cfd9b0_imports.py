"""imports: import runs, the records they touched, external ids on tickets, activities, deals

Revision ID: 70fb23cfd9b0
Revises: 40a513ba249d
Create Date: 2026-11-25 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import patron.db.types

revision: str = "70fb23cfd9b0"
down_revision: str | None = "7c3e9a41d2b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXTERNAL_ID_TABLES = ("ticket", "activity", "deal")


def upgrade() -> None:
    op.create_table(
        "import_run",
        sa.Column("entity", sa.String(length=30), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_path", sa.Text(), nullable=False),
        sa.Column("file_format", sa.String(length=10), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("options", patron.db.types.JSONType, nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("runner", sa.String(length=120), nullable=True),
        sa.Column("total_rows", sa.BigInteger(), nullable=True),
        sa.Column("rows_done", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("error_file", sa.Text(), nullable=True),
        sa.Column("error_bytes", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("finished_at", patron.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reverted_at", patron.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", patron.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", patron.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_import_run_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_run")),
    )
    with op.batch_alter_table("import_run", schema=None) as batch_op:
        batch_op.create_index("ix_import_run_fingerprint", ["fingerprint", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_import_run_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_import_run_created_by"), ["created_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_import_run_created_at"), ["created_at"], unique=False)

    op.create_table(
        "import_record",
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=30), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("row_number", sa.BigInteger(), nullable=False),
        sa.Column("previous", patron.db.types.JSONType, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["import_run.id"],
            name=op.f("fk_import_record_import_id_import_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_record")),
    )
    with op.batch_alter_table("import_record", schema=None) as batch_op:
        batch_op.create_index("ix_import_record_import", ["import_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_import_record_record_id"), ["record_id"], unique=False)

    for table in EXTERNAL_ID_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("external_id", sa.String(length=120), nullable=True))
            batch_op.create_unique_constraint(
                batch_op.f(f"uq_{table}_external_id"), ["external_id"]
            )


def downgrade() -> None:
    for table in reversed(EXTERNAL_ID_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"uq_{table}_external_id"), type_="unique")
            batch_op.drop_column("external_id")
    with op.batch_alter_table("import_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_record_record_id"))
        batch_op.drop_index("ix_import_record_import")
    op.drop_table("import_record")
    with op.batch_alter_table("import_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_run_created_at"))
        batch_op.drop_index(batch_op.f("ix_import_run_created_by"))
        batch_op.drop_index(batch_op.f("ix_import_run_status"))
        batch_op.drop_index("ix_import_run_fingerprint")
    op.drop_table("import_run")
