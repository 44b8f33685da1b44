"""lots: the typed name of produce posted under its category's "other" entry

Revision ID: 3f1c2a9d7b60
Revises: 7a56708c5699
Create Date: 2026-12-07 02:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3f1c2a9d7b60'
down_revision = '7a56708c5699'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('commodity_name', sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.drop_column('commodity_name')
