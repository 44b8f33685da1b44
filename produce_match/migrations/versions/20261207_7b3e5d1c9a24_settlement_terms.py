"""lots: settlement terms offered and holdback; orders: settlement chosen, holdback,
weighbridge ticket, claim on the cooperative

Revision ID: 7b3e5d1c9a24
Revises: 7c3e5a91d2f4
Create Date: 2026-12-07 10:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '7b3e5d1c9a24'
down_revision = '7c3e5a91d2f4'
branch_labels = None
depends_on = None


_CHECKS = [
    ('lots', 'ck_lots_holdback_pct_in_range', 'holdback_pct BETWEEN 0 AND 10'),
    ('lots', 'ck_lots_settlement_offered', 'settle_on_delivery OR settle_on_loading'),
    ('orders', 'ck_orders_holdback_pct_in_range', 'holdback_pct BETWEEN 0 AND 10'),
]


def _postgresql():
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    # every lot and order so far is settled on delivery (today's escrow). Plain ADD COLUMN, not
    # a batch: on SQLite a batch rebuilds the table, and dropping `lots` is refused while
    # orders refer to it. SQLite cannot add a CHECK to a table without that rebuild, so the
    # checks are PostgreSQL's only (the operations check the same rules).
    op.add_column(
        'lots',
        sa.Column('settle_on_delivery', sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column(
        'lots',
        sa.Column('settle_on_loading', sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        'lots', sa.Column('holdback_pct', sa.Integer(), nullable=False, server_default='0')
    )
    op.add_column(
        'orders',
        sa.Column(
            'settlement',
            sa.Enum('on_delivery', 'on_loading', name='settlement', native_enum=False,
                    length=12),
            nullable=False,
            server_default='on_delivery',
        ),
    )
    op.add_column(
        'orders', sa.Column('holdback_pct', sa.Integer(), nullable=False, server_default='0')
    )
    op.add_column('orders', sa.Column('weighbridge_ticket', sa.String(length=40), nullable=True))
    op.add_column('orders', sa.Column('claim_fen', sa.BigInteger(), nullable=True))
    if _postgresql():
        for table, name, condition in _CHECKS:
            op.create_check_constraint(op.f(name), table, condition)


def downgrade():
    if _postgresql():
        for table, name, _condition in _CHECKS:
            op.drop_constraint(op.f(name), table, type_='check')
    for column in ('claim_fen', 'weighbridge_ticket', 'holdback_pct', 'settlement'):
        op.drop_column('orders', column)
    for column in ('holdback_pct', 'settle_on_loading', 'settle_on_delivery'):
        op.drop_column('lots', column)
