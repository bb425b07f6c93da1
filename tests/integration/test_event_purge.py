"""``reghook events purge`` and the audit export that survives it (docs/processing.md#retention).

Run on SQLite and on PostgreSQL: the purge's batches and the history's time
bounds compare stored times, which the two databases store differently.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select, update

from handler.cli import main
from handler.outcomes import Outcome
from handler.records import AliasMove, AuditEntry
from handler.store import Store
from handler.store.tables import alias_history, attempts, audit, events, outbox, own_writes
from tests.support.store_queries import enqueue_outcome

NOW = datetime.now(UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """A migrated store on each database."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def store(store_url: str):  # type: ignore[no-untyped-def]
    s = Store.from_url(store_url)
    yield s
    s.dispose()


@pytest.fixture
def reghook(monkeypatch, store_url):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REGHOOK_DATABASE_URL", store_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def aged(store: Store, days: float, status: str = "done", key: str | None = None) -> str:
    """An event received ``days`` ago in ``status``, with one attempt and one own write."""
    received = NOW - timedelta(days=days)
    event_id, _ = store.ingest(source="events", event_type="run.finished",
                               idempotency_key=key or f"k-{days}-{status}-{NOW.timestamp()}",
                               status=status, body="{}", headers={})
    with store.tx.write() as connection:
        connection.execute(update(events).where(events.c.id == event_id)
                           .values(received_at=received))
        connection.execute(insert(attempts).values(event_id=event_id, number=1, worker="w",
                                                   started_at=received, outcome=status))
        connection.execute(insert(own_writes).values(model="m", version="1", kind="tag",
                                                     at=received, event_id=event_id))
    return event_id


def rows(store: Store, table, event_id: str) -> int:  # type: ignore[no-untyped-def]
    with store.tx.read() as connection:
        return int(connection.execute(select(func.count()).select_from(table)
                                      .where(table.c.event_id == event_id)).scalar_one())


def as_json(result) -> dict:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_purge_deletes_old_finished_events_with_their_attempts_and_keeps_the_audit(store, reghook):
    old_done, old_failed = aged(store, 100), aged(store, 120, "failed")
    young = aged(store, 40)
    queued, processing = aged(store, 200, "queued"), aged(store, 200, "processing")
    owing = aged(store, 150)
    enqueue_outcome(store, Outcome(kind="passed", model="m", version="1", event_id=owing),
                    ["slack"])
    store.record(entries=[AuditEntry(kind="validated", model="m", version="1",
                                     event_id=old_done)],
                 moves=[AliasMove(model="m", alias="champion", version="1", previous_version=None,
                                  actor="reghook", event_id=old_done)])

    result = as_json(reghook("events", "purge", "--older-than", "90d", "--json"))

    assert result["purged"] == 2
    assert (result["kept_unfinished"], result["kept_for_outbox"]) == (2, 1)
    for gone in (old_done, old_failed):
        assert store.get_event(gone) is None
        assert rows(store, attempts, gone) == rows(store, own_writes, gone) == 0
    for kept in (young, queued, processing, owing):
        assert store.get_event(kept) is not None
        assert rows(store, attempts, kept) == 1
    # The audit record stays, its event links now dangling.
    assert rows(store, audit, old_done) == rows(store, alias_history, old_done) == 1
    assert rows(store, outbox, owing) == 1


def test_an_owed_message_once_sent_no_longer_keeps_its_event(store, reghook):
    owing = aged(store, 150)
    enqueue_outcome(store, Outcome(kind="passed", model="m", version="1", event_id=owing),
                    ["slack"])
    with store.tx.write() as connection:
        connection.execute(update(outbox).values(status="sent"))
    assert as_json(reghook("events", "purge", "--older-than", "90d", "--json"))["purged"] == 1
    assert rows(store, outbox, owing) == 1  # the "posted once" key is kept


def test_dry_run_counts_and_deletes_nothing(store, reghook):
    ids = [aged(store, 100 + n) for n in range(3)]
    result = as_json(reghook("events", "purge", "--older-than", "90d", "--dry-run", "--json"))
    assert result["would_purge"] == 3 and "purged" not in result
    assert all(store.get_event(event_id) is not None for event_id in ids)


def test_small_batches_purge_everything_oldest_first(store, reghook):
    ids = [aged(store, 100 + n) for n in range(7)]
    result = reghook("events", "purge", "--older-than", "90d", "--batch", "2")
    assert result.exit_code == 0, result.output
    assert "purged 7 event(s)" in result.stdout
    assert all(store.get_event(event_id) is None for event_id in ids)


@pytest.mark.parametrize("older_than", ["29d", "1h", f"{(NOW - timedelta(days=10)).isoformat()}"])
def test_a_cutoff_inside_the_dedupe_window_is_refused(store, reghook, older_than):
    event_id = aged(store, 31)
    result = reghook("events", "purge", "--older-than", older_than)
    assert result.exit_code == 2
    assert "30-day dedupe window" in result.output
    assert store.get_event(event_id) is not None


def test_a_cutoff_that_is_no_time_is_a_usage_error(reghook):
    result = reghook("events", "purge", "--older-than", "ninety days")
    assert result.exit_code == 2 and "--older-than" in result.output


def test_history_exports_a_time_range_whole_after_a_purge(store, reghook):
    event_ids = [aged(store, 100 + n) for n in range(5)]
    for n, event_id in enumerate(event_ids):
        store.record(entries=[AuditEntry(kind="validated", model="m", version=str(n),
                                         event_id=event_id)],
                     moves=[AliasMove(model="m", alias="champion", version=str(n),
                                      previous_version=None, actor="reghook", event_id=event_id)])
    with store.tx.write() as connection:  # entry n happened 4 - n days ago, less an hour
        for table in (audit, alias_history):
            for n in range(5):
                connection.execute(update(table).where(table.c.version == str(n)).values(
                    at=NOW - timedelta(days=4 - n) + timedelta(hours=1)))
    reghook("events", "purge", "--older-than", "90d")
    assert all(store.get_event(event_id) is None for event_id in event_ids)

    export = as_json(reghook("history", "m", "--json", "--all", "--limit", "1",
                             "--since", "4d", "--until", "1d"))

    # 4 days ago up to 1 day ago: versions 2, 1, 0, newest first, over three pages.
    assert [e["version"] for e in export["entries"]] == ["2", "1", "0"]
    assert [m["version"] for m in export["aliases"]] == ["2", "1", "0"]
    assert export["next"] is None
    assert {e["event_id"] for e in export["entries"]} <= set(event_ids)


def test_history_pages_keep_the_range_and_a_bad_until_is_a_usage_error(store, reghook):
    for n in range(3):
        store.record(entries=[AuditEntry(kind="validated", model="m", version=str(n),
                                         event_id=None)])
    page = as_json(reghook("history", "m", "--json", "--limit", "2", "--since", "1h"))
    assert len(page["entries"]) == 2 and page["next"]
    rest = as_json(reghook("history", "m", "--json", "--limit", "2", "--since", "1h",
                           "--before", page["next"]))
    assert [e["version"] for e in page["entries"] + rest["entries"]] == ["2", "1", "0"]
    assert as_json(reghook("history", "m", "--json", "--until", "1h"))["entries"] == []
    result = reghook("history", "m", "--until", "yesterday")
    assert result.exit_code == 2 and "--until" in result.output
