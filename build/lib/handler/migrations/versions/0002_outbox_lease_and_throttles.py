"""outbox: lease owner and throttle count

The notifier fences every write after a claim by the claim's owner (a worker
whose lease ran out must not overwrite the result of the one that took the
message over), and counts HTTP 429 answers apart from attempts so throttling
does not use up the retry budget meant for outages.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('throttled', sa.Integer(), nullable=False,
                                      server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('throttled')
        batch_op.drop_column('lease_owner')
