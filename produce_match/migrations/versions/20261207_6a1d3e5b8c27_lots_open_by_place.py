"""lots: the open lots of a province or a county, soonest to spoil first, by index

Revision ID: 6a1d3e5b8c27
Revises: 7b3e5d1c9a24
Create Date: 2026-12-07 10:50:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "6a1d3e5b8c27"
down_revision = "7b3e5d1c9a24"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lots_province_status_spoil_by", ["province_code", "status", "spoil_by"]
        )
        batch_op.create_index(
            "ix_lots_county_status_spoil_by", ["county_code", "status", "spoil_by"]
        )


def downgrade():
    with op.batch_alter_table("lots", schema=None) as batch_op:
        batch_op.drop_index("ix_lots_county_status_spoil_by")
        batch_op.drop_index("ix_lots_province_status_spoil_by")
