"""watch_state: what the registry watch has seen of each model

Unity Catalog sends no registry webhooks, so the worker looks at the
registry; what it has seen must survive restarts, and one look per model
and interval is claimed so several workers never repeat it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 03:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'watch_state',
        sa.Column('model', sa.String(length=300), nullable=False),
        sa.Column('state', sa.Text(), nullable=True),
        sa.Column('looked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('owner', sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint('model'),
    )


def downgrade() -> None:
    op.drop_table('watch_state')
