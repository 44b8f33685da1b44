"""payments: a cooperative's Alipay account for payouts (optional)

Revision ID: b81d5e3c2a07
Revises: f2b7c41d9e08
Create Date: 2026-12-07 10:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b81d5e3c2a07"
down_revision = "f2b7c41d9e08"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("payout_accounts") as batch_op:
        batch_op.add_column(sa.Column("alipay_account", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("alipay_name", sa.String(length=120), nullable=True))


def downgrade():
    with op.batch_alter_table("payout_accounts") as batch_op:
        batch_op.drop_column("alipay_name")
        batch_op.drop_column("alipay_account")
