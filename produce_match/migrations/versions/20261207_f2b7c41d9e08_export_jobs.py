"""monitor: export jobs (built by the worker, downloaded when ready)

Revision ID: f2b7c41d9e08
Revises: a9c4e2f71b30
Create Date: 2026-12-07 06:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "f2b7c41d9e08"
down_revision = "a9c4e2f71b30"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("fmt", sa.String(length=8), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued", "running", "ready", "failed", "expired",
                name="export_status", native_enum=False, length=10,
            ),
            nullable=False,
        ),  # fmt: skip
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("file_key", sa.String(length=200), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "done >= 0 AND done <= total", name=op.f("ck_export_jobs_progress_within_total")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_export_jobs_requested_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_jobs")),
    )
    with op.batch_alter_table("export_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_export_jobs_requested_by_id"), ["requested_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_export_jobs_created_at"), ["created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("export_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_jobs_created_at"))
        batch_op.drop_index(batch_op.f("ix_export_jobs_requested_by_id"))
    op.drop_table("export_jobs")
