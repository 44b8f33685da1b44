"""sharing: share links per channel, their visits, and the orders they brought

Revision ID: a7c3e91f5d20
Revises: 5ab51dd03871
Create Date: 2026-12-07 13:20:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a7c3e91f5d20"
down_revision = "5ab51dd03871"
branch_labels = None
depends_on = None

CHANNELS = ("wechat_group", "moments", "douyin", "kuaishou", "weibo", "sms", "print", "other")


def _channel():
    return sa.Enum(*CHANNELS, name="share_channel", native_enum=False, length=20)


def upgrade():
    op.create_table(
        "share_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("identity", sa.String(length=80), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "lot", "demand", "shop", name="share_target_kind", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("lot_id", sa.Integer(), nullable=True),
        sa.Column("demand_id", sa.Integer(), nullable=True),
        sa.Column("office_id", sa.Integer(), nullable=True),
        sa.Column("channel", _channel(), nullable=False),
        sa.Column("sharer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["lots.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["demand_id"], ["demands.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["office_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sharer_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("identity"),
    )
    with op.batch_alter_table("share_links", schema=None) as batch_op:
        batch_op.create_index("ix_share_links_lot_id", ["lot_id"])
        batch_op.create_index("ix_share_links_demand_id", ["demand_id"])
        batch_op.create_index("ix_share_links_office_id", ["office_id"])

    op.create_table(
        "share_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["share_links.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("link_id", "day", "visitor", name="uq_share_visits_link_day_visitor"),
    )
    with op.batch_alter_table("share_visits", schema=None) as batch_op:
        batch_op.create_index("ix_share_visits_visitor_at", ["visitor", "at"])
        batch_op.create_index("ix_share_visits_at", ["at"])

    op.create_table(
        "share_attributions",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("channel", _channel(), nullable=False),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["link_id"], ["share_links.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("order_id"),
    )
    with op.batch_alter_table("share_attributions", schema=None) as batch_op:
        batch_op.create_index("ix_share_attributions_link_id", ["link_id"])


def downgrade():
    op.drop_table("share_attributions")
    op.drop_table("share_visits")
    op.drop_table("share_links")
