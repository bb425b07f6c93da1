"""The event list and the model timeline read by index (migration 0004), and the migration itself.

Query plans are deterministic where timings are not: each read the admin API
offers must walk an index in its newest-first order, with no sort of the
matching rows (SQLite's "USE TEMP B-TREE FOR ORDER BY").
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import event, inspect

from handler.records import AliasMove, AuditEntry
from handler.store import Store, alembic_config, upgrade
from handler.store.engine import make_engine
from tests.support.postgres import temporary_database

SINCE = datetime(2020, 1, 1, tzinfo=UTC)
NEW_INDEXES = {"ix_events_newest", "ix_events_status_newest", "ix_events_source_newest",
               "ix_events_type_newest", "ix_events_source_type_newest"}


def _plans(store: Store, read) -> list[str]:  # type: ignore[no-untyped-def]
    """SQLite's plan of every SELECT ``read`` runs, one line per step."""
    statements: list[tuple[str, object]] = []

    def seen(_conn, _cursor, statement, parameters, _context, _many):  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        read()
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    with store.engine.connect() as connection:
        return [" | ".join(row[-1] for row in connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {sql}", params).all()) for sql, params in statements]


@pytest.mark.parametrize(("filters", "index"), [
    ({}, "ix_events_newest"),
    ({"status": "done"}, "ix_events_status_newest (status=?"),
    ({"source": "mlflow"}, "ix_events_source_newest (source=?"),
    ({"event_type": "run.finished"}, "ix_events_type_newest (type=?"),
    ({"since": SINCE}, "ix_events_newest (received_at>?"),
    ({"status": "failed", "since": SINCE}, "ix_events_status_newest (status=? AND received_at>?"),
    ({"source": "mlflow", "event_type": "model_version.created"},
     "ix_events_source_type_newest (source=? AND type=?"),
    ({"status": "done", "source": "mlflow", "event_type": "model_version.created"},
     "ix_events_status_source_type_newest (status=? AND source=? AND type=?"),
])
def test_every_event_filter_walks_an_index_in_newest_first_order(store, filters, index):
    first, _ = store.ingest(source="mlflow", event_type="run.finished", idempotency_key="k",
                            status="queued", body="{}", headers={})
    for before in (None, first):
        plan = _plans(store, lambda b=before: store.page_events(before=b, **filters))[-1]
        assert f"USING INDEX {index}" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


def test_a_filter_pair_without_its_own_index_still_needs_no_sort(store):
    for filters in ({"status": "done", "source": "mlflow"}, {"status": "done", "event_type": "x"}):
        plan = _plans(store, lambda: store.page_events(**filters))[-1]  # noqa: B023 - run at once
        assert "USING INDEX ix_events_" in plan and "TEMP B-TREE" not in plan, plan


def test_the_model_timeline_reads_both_lists_newest_first_by_index(store):
    store.record([AuditEntry("registered", "churn", "1", "evt_1")])
    plans = _plans(store, lambda: store.timeline("churn", before="9.9"))
    assert any("USING INDEX ix_audit_model_id (model=? AND id<?)" in p for p in plans), plans
    assert any("USING INDEX ix_alias_history_model_id (model=? AND id<?)" in p
               for p in plans), plans
    assert not any("TEMP B-TREE" in p for p in plans), plans
    verdict = _plans(store, lambda: store.last_verdict("churn", "1"))[-1]
    assert "ix_audit_model_kind (model=? AND kind=? AND version=?)" in verdict, verdict


def _event_indexes(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {ix["name"] for ix in inspect(engine).get_indexes("events")}
    finally:
        engine.dispose()


def _upgrade_from_0003_keeps_events_and_adds_indexes(url: str) -> None:
    config = alembic_config(url)
    command.upgrade(config, "0003")
    store = Store.from_url(url)
    try:
        event_id, _ = store.ingest(source="mlflow", event_type="run.finished",
                                   idempotency_key="before-0004", status="done", body="{}",
                                   headers={})
        command.upgrade(config, "head")
        names = _event_indexes(url)
        assert names >= NEW_INDEXES and "ix_events_received" not in names
        assert [e["id"] for e in store.list_events(status="done")] == [event_id]
        command.downgrade(config, "0003")
        names = _event_indexes(url)
        assert "ix_events_received" in names and not NEW_INDEXES & names
        command.upgrade(config, "head")
    finally:
        store.dispose()


def test_migration_0004_upgrades_and_downgrades_a_sqlite_store(tmp_path):
    _upgrade_from_0003_keeps_events_and_adds_indexes(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.mark.postgres
def test_migration_0004_upgrades_and_downgrades_a_postgres_store():
    with temporary_database() as url:
        _upgrade_from_0003_keeps_events_and_adds_indexes(url)


def test_comparing_named_versions_reads_their_rows_by_index(store):
    store.record([AuditEntry("validated", "churn", "1", "evt_1")],
                 [AliasMove("churn", "staging", "1", None, "reghook", "evt_1", None)])
    plans = _plans(store, lambda: store.compare_versions("churn", ["1", "2"]))
    joined = "\n".join(plans)
    assert "ix_audit_model_version (model=? AND version=?)" in joined, plans
    assert "ix_audit_model_kind (model=? AND kind=?)" in joined, plans
    assert "ix_alias_history_model_version (model=? AND version=?)" in joined, plans
    assert "ix_alias_history_model (model=? AND alias=? AND id>?)" in joined, plans
    # Every step searches an index: no scan of a table (alias holders read the
    # model's range of the covering (model, alias, id) index, no rows).
    assert not any(step.startswith("SCAN") for p in plans for step in p.split(" | ")), plans


@pytest.mark.postgres
def test_db_upgrade_leaves_postgres_with_fresh_planner_statistics():
    with temporary_database() as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                analyzed = dict(connection.exec_driver_sql(
                    "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                    "WHERE relname IN ('events', 'audit', 'alias_history')").all())
        finally:
            engine.dispose()
        assert analyzed == {"events": True, "audit": True, "alias_history": True}
