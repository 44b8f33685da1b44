"""search documents by place: an index on latitude and longitude for the nearest lots

Revision ID: 7c3e5a91d2f4
Revises: 7c3e9a1d5b20
Create Date: 2026-12-07 10:30:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "7c3e5a91d2f4"
down_revision = "7c3e9a1d5b20"
branch_labels = None
depends_on = None


def upgrade():
    # a search without words by distance reads the lots of a box around the buyer from here
    # (with the status and spoil-by date a search always filters on: no table rows read)
    op.create_index(
        "ix_search_documents_lat_lng",
        "search_documents",
        ["lat", "lng"],
        unique=False,
        postgresql_include=["status", "spoil_by", "lot_id"],
    )


def downgrade():
    op.drop_index("ix_search_documents_lat_lng", table_name="search_documents")
