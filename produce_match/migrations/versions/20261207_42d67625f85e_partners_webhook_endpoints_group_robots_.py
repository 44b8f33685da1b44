"""partners: webhook endpoints, group robots, deliveries

Revision ID: 42d67625f85e
Revises: c5e8a1f4d2b9
Create Date: 2026-12-07 12:48:16.733824

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "42d67625f85e"
down_revision = "c5e8a1f4d2b9"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "group_robots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("wecom", "dingtalk", name="robot_kind", native_enum=False, length=12),
            nullable=False,
        ),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=120), nullable=True),
        sa.Column("post_urgent", sa.Boolean(), nullable=False),
        sa.Column("post_summary", sa.Boolean(), nullable=False),
        sa.Column("summary_hour", sa.Integer(), nullable=False),
        sa.Column("summary_sent_on", sa.Date(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("active", "disabled", name="robot_status", native_enum=False, length=12),
            nullable=False,
        ),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "summary_hour >= 0 AND summary_hour <= 23",
            name=op.f("ck_group_robots_summary_hour_of_day"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_group_robots_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_group_robots_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_robots")),
    )
    with op.batch_alter_table("group_robots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_group_robots_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("description", sa.String(length=120), nullable=True),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=80), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "disabled", name="endpoint_status", native_enum=False, length=12),
            nullable=False,
        ),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_webhook_endpoints_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_webhook_endpoints_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_endpoints_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "lots_at_risk_announced",
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["lots.id"],
            name=op.f("fk_lots_at_risk_announced_lot_id_lots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lot_id", name=op.f("pk_lots_at_risk_announced")),
    )
    op.create_table(
        "outgoing_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=True),
        sa.Column("robot_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "delivered",
                "failed",
                name="delivery_status",
                native_enum=False,
                length=12,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("replayed_from", sa.Integer(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(endpoint_id IS NULL) <> (robot_id IS NULL)",
            name=op.f("ck_outgoing_deliveries_one_endpoint_or_robot"),
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_outgoing_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["robot_id"],
            ["group_robots.id"],
            name=op.f("fk_outgoing_deliveries_robot_id_group_robots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_deliveries")),
    )
    with op.batch_alter_table("outgoing_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outgoing_deliveries_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            "ix_outgoing_deliveries_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outgoing_deliveries_endpoint_id"), ["endpoint_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outgoing_deliveries_event_id"), ["event_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outgoing_deliveries_robot_id"), ["robot_id"], unique=False
        )

    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("elapsed_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["outgoing_deliveries.id"],
            name=op.f("fk_delivery_attempts_delivery_id_outgoing_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_attempts_delivery_id"), ["delivery_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_attempts_delivery_id"))

    op.drop_table("delivery_attempts")
    with op.batch_alter_table("outgoing_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outgoing_deliveries_robot_id"))
        batch_op.drop_index(batch_op.f("ix_outgoing_deliveries_event_id"))
        batch_op.drop_index(batch_op.f("ix_outgoing_deliveries_endpoint_id"))
        batch_op.drop_index("ix_outgoing_deliveries_due")
        batch_op.drop_index(batch_op.f("ix_outgoing_deliveries_created_at"))

    op.drop_table("outgoing_deliveries")
    op.drop_table("lots_at_risk_announced")
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_endpoints_organisation_id"))

    op.drop_table("webhook_endpoints")
    with op.batch_alter_table("group_robots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_robots_organisation_id"))

    op.drop_table("group_robots")
