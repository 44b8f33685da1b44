"""lots: settlement terms offered and holdback; orders: settlement chosen, holdback,
weighbridge ticket, claim on the cooperative

Revision ID: 7b3e5d1c9a24
Revises: f2b7c41d9e08
Create Date: 2026-12-07 10:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '7b3e5d1c9a24'
down_revision = 'f2b7c41d9e08'
branch_labels = None
depends_on = None


def upgrade():
    # every lot and order so far is settled on delivery (today's escrow)
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('settle_on_delivery', sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column('settle_on_loading', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column('holdback_pct', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_lots_holdback_pct_in_range'), 'holdback_pct BETWEEN 0 AND 10'
        )
        batch_op.create_check_constraint(
            batch_op.f('ck_lots_settlement_offered'), 'settle_on_delivery OR settle_on_loading'
        )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'settlement', sa.Enum('on_delivery', 'on_loading', name='settlement',
                                      native_enum=False, length=12),
                nullable=False, server_default='on_delivery',
            )
        )
        batch_op.add_column(
            sa.Column('holdback_pct', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(sa.Column('weighbridge_ticket', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('claim_fen', sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint(
            batch_op.f('ck_orders_holdback_pct_in_range'), 'holdback_pct BETWEEN 0 AND 10'
        )


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_orders_holdback_pct_in_range'), type_='check')
        batch_op.drop_column('claim_fen')
        batch_op.drop_column('weighbridge_ticket')
        batch_op.drop_column('holdback_pct')
        batch_op.drop_column('settlement')
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_lots_settlement_offered'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_lots_holdback_pct_in_range'), type_='check')
        batch_op.drop_column('holdback_pct')
        batch_op.drop_column('settle_on_loading')
        batch_op.drop_column('settle_on_delivery')
