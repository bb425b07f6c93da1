"""newest-first indexes: every filter of the event list and the model timeline read by index

Every event is kept, so the store only grows; the admin API, the console and
``reghook events list`` show events newest first (``received_at DESC, id
DESC``) with any of ``status``, ``source``, ``type`` and ``since``, and page
with ``before=<event id>`` (docs/admin-api.md). Before this revision SQLite
answered ``source=`` through the ``(source, idempotency_key)`` unique index
and ``status=`` through the claim index, then sorted every matching row: a
common value cost a sort of the table (139 ms at 100,000 events).

Each index below ends with the list's order, so a filter is an index range
read backwards that stops after ``limit + 1`` rows, and the keyset condition
of a next page (``received_at <= t AND (received_at < t OR id < :id)``) is a
bound on the same range:

- ``(received_at, id)``: the unfiltered list and ``since=`` (replaces
  ``ix_events_received``, whose rows SQLite orders by rowid, not id, so ties
  needed a sort);
- ``(status, received_at, id)``, ``(source, received_at, id)``,
  ``(type, received_at, id)``: one filter, any value, common or rare;
- ``(source, type, received_at, id)``: the pair the console offers together
  (source and type), where both values can be common and the pair rare;
- other combinations walk the index of one of their filters newest first and
  test the others on the way; ``since=`` bounds that walk.

The claim index ``(status, next_attempt_at)`` stays for the worker. Checked
with ``EXPLAIN QUERY PLAN`` on SQLite and ``EXPLAIN`` on PostgreSQL
(tests/integration/test_event_paging.py asserts the SQLite plans).

The model timeline (``/api/models/<name>/history``, ``reghook history``)
reads newest first by id: ``audit (model, id)`` replaces ``audit (model,
at)`` (entries written in one transaction share ``at``), ``audit (model,
version, id)`` serves one version's latest verdict and a version comparison,
and ``alias_history (model, id)`` serves all of a model's alias moves (the
existing ``(model, alias, id)`` serves one alias).

On PostgreSQL the indexes are built inside the migration's transaction,
which blocks writes to ``events`` while it runs (seconds per index per
million rows): senders retry, but run it at a quiet time, then ``ANALYZE``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

EVENT_INDEXES = {
    'ix_events_newest': ['received_at', 'id'],
    'ix_events_status_newest': ['status', 'received_at', 'id'],
    'ix_events_source_newest': ['source', 'received_at', 'id'],
    'ix_events_type_newest': ['type', 'received_at', 'id'],
    'ix_events_source_type_newest': ['source', 'type', 'received_at', 'id'],
}


def upgrade() -> None:
    op.drop_index('ix_events_received', table_name='events')
    for name, columns in EVENT_INDEXES.items():
        op.create_index(name, 'events', columns)
    op.drop_index('ix_audit_model', table_name='audit')
    op.create_index('ix_audit_model_id', 'audit', ['model', 'id'])
    op.create_index('ix_audit_model_version', 'audit', ['model', 'version', 'id'])
    op.create_index('ix_alias_history_model_id', 'alias_history', ['model', 'id'])


def downgrade() -> None:
    op.drop_index('ix_alias_history_model_id', table_name='alias_history')
    op.drop_index('ix_audit_model_version', table_name='audit')
    op.drop_index('ix_audit_model_id', table_name='audit')
    op.create_index('ix_audit_model', 'audit', ['model', 'at'])
    for name in EVENT_INDEXES:
        op.drop_index(name, table_name='events')
    op.create_index('ix_events_received', 'events', ['received_at'])
