"""three filters at once read by index; a version's rollbacks found without a scan

Migration 0004 gave each single filter and the (source, type) pair an index
in the list's newest-first order; a combination without its own index walked
the index of one of its filters and tested the others row by row. At
1,000,000 events a rare triple (``status=rejected&source=watch&type=
model_version.created``: about one row in 10,000) walked most of the
(source, type) range: p99 80 ms, four times the 1,000-event store, on both
SQLite and PostgreSQL (bench/README.md, "store").

- ``(status, source, type, received_at, id)``: all three filters are
  equalities on its leading columns, so any triple, however rare, is an index
  range read backwards that stops after ``limit + 1`` rows. (It does not
  serve ``status`` + ``source`` alone in order, ``type`` sits between: that
  pair still walks the status index, bounded by ``since=`` when given.)
- ``audit (model, kind, version, id)``: the version comparison reads a model's
  ``rolled_back`` entries (they name the version taken off the alias in
  their detail, not in ``version``) without reading all of the model's
  entries (handler/store/comparison.py); a version's latest verdict
  (``kind = 'validated'`` and its version) is one index probe.
- ``alias_history (model, version, id)``: the comparison's spells of the
  named versions start with a probe, not a walk of every move of the model.

Like 0004, on PostgreSQL the index is built inside the migration's
transaction, which blocks writes to ``events`` while it runs (seconds per
million rows): run it at a quiet time, then ``ANALYZE events``
(README, "PostgreSQL at a million events").

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_events_status_source_type_newest', 'events',
                    ['status', 'source', 'type', 'received_at', 'id'])
    op.create_index('ix_audit_model_kind', 'audit', ['model', 'kind', 'version', 'id'])
    op.create_index('ix_alias_history_model_version', 'alias_history', ['model', 'version', 'id'])


def downgrade() -> None:
    op.drop_index('ix_alias_history_model_version', table_name='alias_history')
    op.drop_index('ix_audit_model_kind', table_name='audit')
    op.drop_index('ix_events_status_source_type_newest', table_name='events')
