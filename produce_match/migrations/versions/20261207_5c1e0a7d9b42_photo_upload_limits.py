"""photo uploads, counted for the per-account and per-address limits

Revision ID: 5c1e0a7d9b42
Revises: 3f1c2a9d7b60
Create Date: 2026-12-07 02:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c1e0a7d9b42'
down_revision = '3f1c2a9d7b60'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('photo_uploads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('photos', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_photo_uploads_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photo_uploads'))
    )
    with op.batch_alter_table('photo_uploads', schema=None) as batch_op:
        batch_op.create_index('ix_photo_uploads_ip_at', ['ip', 'at'], unique=False)
        batch_op.create_index('ix_photo_uploads_user_id_at', ['user_id', 'at'], unique=False)


def downgrade():
    with op.batch_alter_table('photo_uploads', schema=None) as batch_op:
        batch_op.drop_index('ix_photo_uploads_user_id_at')
        batch_op.drop_index('ix_photo_uploads_ip_at')

    op.drop_table('photo_uploads')
