"""payments: a cooperative's WeChat payee (openid and real name) for WeChat Pay payouts

Revision ID: 7c3e9a1d5b20
Revises: b81d5e3c2a07
Create Date: 2026-12-07 10:20:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "7c3e9a1d5b20"
down_revision = "b81d5e3c2a07"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("payout_accounts") as batch:
        batch.add_column(sa.Column("wechat_openid", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("wechat_name", sa.String(length=60), nullable=True))


def downgrade():
    with op.batch_alter_table("payout_accounts") as batch:
        batch.drop_column("wechat_name")
        batch.drop_column("wechat_openid")
