"""phone codes and confirmed mobile numbers

Revision ID: 5ab51dd03871
Revises: 6a1d3e5b8c27
Create Date: 2026-12-07 12:48:21

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "5ab51dd03871"
down_revision = "6a1d3e5b8c27"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "phone_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=11), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "register",
                "reset_password",
                "change_phone",
                name="code_purpose",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "message",
            sa.Enum(
                "code",
                "already_registered",
                "nothing",
                name="code_message",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "live",
                "used",
                "exhausted",
                "superseded",
                name="code_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_phone_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_codes")),
    )
    with op.batch_alter_table("phone_codes", schema=None) as batch_op:
        batch_op.create_index("ix_phone_codes_ip_created", ["ip", "created_at"], unique=False)
        batch_op.create_index("ix_phone_codes_phone_created", ["phone", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_phone_codes_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("phone_verified_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade():
    # ALTER TABLE ... DROP COLUMN, even on SQLite (3.35+): a batch would copy and drop the users
    # table, which every other table refers to
    op.drop_column("users", "phone_verified_at")

    with op.batch_alter_table("phone_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_codes_user_id"))
        batch_op.drop_index("ix_phone_codes_phone_created")
        batch_op.drop_index("ix_phone_codes_ip_created")

    op.drop_table("phone_codes")
