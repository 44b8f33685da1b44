"""problem ledger: the reason and time of an entry's latest reopening

Revision ID: e6760d21d510
Revises: d3f1a8c2b7e4
Create Date: 2026-12-07 02:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e6760d21d510"
down_revision = "d3f1a8c2b7e4"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("problems", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reopen_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("problems", schema=None) as batch_op:
        batch_op.drop_column("reopened_at")
        batch_op.drop_column("reopen_reason")
