"""notifications: each person's channels and quiet hours; the delivery log per channel

Revision ID: c5e8a1f4d2b9
Revises: a7c3e91f5d20
Create Date: 2026-12-07 13:00:00

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "c5e8a1f4d2b9"
down_revision = "a7c3e91f5d20"
branch_labels = None
depends_on = None

_STATES = ("pending", "sent", "failed", "skipped")
_REASONS = ("opted_out", "no_address", "quiet_hours", "cap", "retry", "disabled")


def upgrade():
    # the notification's outbox now ends when its deliveries are written (one per channel);
    # the claim moved to the deliveries
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_channels_sent_at")
        batch_op.alter_column("channels_sent_at", new_column_name="dispatched_at")
        batch_op.drop_column("channels_claimed_at")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_dispatched_at", ["dispatched_at", "id"], unique=False
        )

    op.create_table(
        "notification_settings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("quiet_start", sa.SmallInteger(), nullable=True),
        sa.Column("quiet_end", sa.SmallInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_settings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_settings")),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*_STATES, name="delivery_state", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column(
            "reason",
            sa.Enum(*_REASONS, name="delivery_reason", native_enum=False, length=20),
            nullable=True,
        ),
        sa.Column("address", sa.String(length=254), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("provider_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_notification_deliveries_notification_id_notifications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_deliveries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        sa.UniqueConstraint(
            "notification_id", "channel", name="uq_notification_deliveries_once"
        ),
    )
    op.create_index(
        "ix_notification_deliveries_due",
        "notification_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        "ix_notification_deliveries_user",
        "notification_deliveries",
        ["user_id", "channel", "sent_at"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_notification_deliveries_user", table_name="notification_deliveries")
    op.drop_index("ix_notification_deliveries_due", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_table("notification_settings")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_dispatched_at")
        batch_op.alter_column("dispatched_at", new_column_name="channels_sent_at")
        batch_op.add_column(
            sa.Column("channels_claimed_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_channels_sent_at", ["channels_sent_at", "id"], unique=False
        )
