"""orders: delivery place (province, county, address line) and receiver

Revision ID: d3f1a8c2b7e4
Revises: 5c1e0a7d9b42
Create Date: 2026-12-07 02:10:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd3f1a8c2b7e4'
down_revision = '5c1e0a7d9b42'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_province_code', sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column('delivery_county_code', sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column('delivery_address', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('receiver_name', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('receiver_phone', sa.String(length=30), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_orders_delivery_province_code_regions'),
            'regions', ['delivery_province_code'], ['code'],
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_orders_delivery_county_code_regions'),
            'regions', ['delivery_county_code'], ['code'],
        )

    # orders placed before: delivered to their buyer's place, received by its contact person
    orders = sa.table(
        'orders',
        sa.column('id', sa.Integer),
        sa.column('buyer_org_id', sa.Integer),
        sa.column('delivery_province_code', sa.String),
        sa.column('delivery_county_code', sa.String),
        sa.column('delivery_address', sa.String),
        sa.column('receiver_name', sa.String),
        sa.column('receiver_phone', sa.String),
    )
    orgs = sa.table(
        'organisations',
        sa.column('id', sa.Integer),
        sa.column('province_code', sa.String),
        sa.column('county_code', sa.String),
        sa.column('township', sa.String),
        sa.column('village', sa.String),
        sa.column('contact_person', sa.String),
        sa.column('phone', sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            orders.c.id,
            orgs.c.province_code,
            orgs.c.county_code,
            orgs.c.township,
            orgs.c.village,
            orgs.c.contact_person,
            orgs.c.phone,
        ).join(orgs, orgs.c.id == orders.c.buyer_org_id)
    ).all()
    for order_id, province, county, township, village, person, phone in rows:
        address = ' '.join(p for p in (township, village) if p) or None
        bind.execute(
            orders.update()
            .where(orders.c.id == order_id)
            .values(
                delivery_province_code=province,
                delivery_county_code=county,
                delivery_address=address,
                receiver_name=person,
                receiver_phone=phone,
            )
        )


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_orders_delivery_county_code_regions'), type_='foreignkey'
        )
        batch_op.drop_constraint(
            batch_op.f('fk_orders_delivery_province_code_regions'), type_='foreignkey'
        )
        batch_op.drop_column('receiver_phone')
        batch_op.drop_column('receiver_name')
        batch_op.drop_column('delivery_address')
        batch_op.drop_column('delivery_county_code')
        batch_op.drop_column('delivery_province_code')
