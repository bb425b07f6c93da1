"""channel_pace: one Slack or Teams webhook's pace, shared by every worker

Slack takes about one message per second per incoming webhook, and answers
429 with ``Retry-After`` beyond it; Teams Workflows about four a second.
Each worker used to keep the pace in memory, so N workers posting to one
webhook sent N times its rate, and a 429 seen by one did not hold back the
others. The pace now lives in the store, one row per webhook (keyed by the
URL's SHA-256, never the URL): when it last sent, how far ahead deferred
messages have booked slots, and until when a 429 holds it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 07:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'channel_pace',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('last_sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('booked_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('held_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('channel_pace')
