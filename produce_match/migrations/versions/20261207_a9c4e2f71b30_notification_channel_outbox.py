"""notifications: the other channels' outbox (claimed by a task, sent to every channel)

Revision ID: a9c4e2f71b30
Revises: e6760d21d510
Create Date: 2026-12-07 05:20:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a9c4e2f71b30"
down_revision = "e6760d21d510"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channels_claimed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("channels_sent_at", sa.DateTime(timezone=True), nullable=True)
        )
    # what exists was handed to the channels after its commit, as the code then did
    op.execute("UPDATE notifications SET channels_sent_at = created_at")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_channels_sent_at", ["channels_sent_at", "id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_channels_sent_at")
        batch_op.drop_column("channels_sent_at")
        batch_op.drop_column("channels_claimed_at")
