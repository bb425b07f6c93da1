"""``reghook db upgrade``, ``events list``, ``events show`` and ``replay`` (docs/cli.md).

Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from handler.cli import main
from handler.store import Store

EVENT_KEYS = {"id", "source", "type", "status", "received_at", "attempts", "last_error",
              "idempotency_key", "replay_of"}


@pytest.fixture
def cli(monkeypatch, sqlite_url):
    """Run ``reghook`` against the migrated SQLite store of this test."""
    monkeypatch.setenv("REGHOOK_DATABASE_URL", sqlite_url)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def cli_store(sqlite_url):
    store = Store.from_url(sqlite_url)
    yield store
    store.dispose()


def stored(store: Store, event_type: str, *, status: str = "queued", source: str = "events",
           key: str | None = None) -> str:
    event_id, created = store.ingest(
        source=source, event_type=event_type, idempotency_key=key or f"key-{event_type}-{status}",
        status=status, body=json.dumps({"type": event_type}),
        headers={"Content-Type": "application/json", "webhook-signature": "v1,secret",
                 "webhook-id": "msg_1"})
    assert created
    return event_id


def as_json(result) -> dict:
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.stdout)
    # Stable output: sorted keys, the same layout every time.
    assert result.stdout.strip() == json.dumps(parsed, indent=2, sort_keys=True)
    return parsed


def test_db_upgrade_creates_the_event_store(monkeypatch, tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("REGHOOK_DATABASE_URL", url)
    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, ["db", "upgrade"], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    store = Store.from_url(url)
    try:
        store.ping()
        assert store.count_events() == 0
    finally:
        store.dispose()


def test_db_upgrade_switches_sqlite_to_wal(monkeypatch, tmp_path):
    import sqlite3

    path = tmp_path / "wal.db"
    monkeypatch.setenv("REGHOOK_DATABASE_URL", f"sqlite:///{path}")
    assert CliRunner().invoke(main, ["db", "upgrade"], catch_exceptions=False).exit_code == 0
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_events_list_json_is_newest_first_with_stable_keys(cli, cli_store):
    ids = [stored(cli_store, f"kind.{n}") for n in range(3)]
    listed = as_json(cli("events", "list", "--json"))["events"]
    assert [e["id"] for e in listed] == ids[::-1]
    for event in listed:
        assert set(event) >= EVENT_KEYS
        assert event["received_at"].endswith("Z")


def test_events_list_filters(cli, cli_store):
    queued = stored(cli_store, "run.finished")
    ignored = stored(cli_store, "deploy.started", status="ignored")
    mlflow = stored(cli_store, "model_version.created", source="mlflow")

    def ids(*args: str) -> list[str]:
        return [e["id"] for e in as_json(cli("events", "list", "--json", *args))["events"]]

    assert ids("--status", "ignored") == [ignored]
    assert ids("--source", "mlflow") == [mlflow]
    assert ids("--type", "run.finished") == [queued]
    assert ids("--limit", "1") == [mlflow]
    assert set(ids("--since", "1h")) == {queued, ignored, mlflow}
    assert ids("--since", "2999-01-01T00:00:00Z") == []


def test_events_list_with_a_bad_since_is_a_usage_error(cli):
    assert cli("events", "list", "--since", "yesterday").exit_code == 2


def test_events_list_table_shows_the_events(cli, cli_store):
    stored(cli_store, "run.finished")
    result = cli("events", "list")
    assert result.exit_code == 0, result.output
    assert "source" in result.stdout
    assert "events" in result.stdout
    assert "queued" in result.stdout


def test_events_list_with_no_events_says_so(cli):
    result = cli("events", "list")
    assert result.exit_code == 0
    assert "no events" in result.stderr


def test_events_show_json_has_body_headers_attempts_and_actions(cli, cli_store):
    event_id = stored(cli_store, "run.finished")
    event = as_json(cli("events", "show", event_id, "--json"))
    assert set(event) >= EVENT_KEYS
    assert event["id"] == event_id
    assert json.loads(event["body"]) == {"type": "run.finished"}
    assert event["headers"] == {"Content-Type": "application/json", "webhook-id": "msg_1"}
    assert event["attempt_log"] == []
    assert event["actions"] == []


def test_events_show_readable_output(cli, cli_store):
    event_id = stored(cli_store, "run.finished")
    result = cli("events", "show", event_id)
    assert result.exit_code == 0, result.output
    assert "run.finished" in result.stdout
    assert "v1,secret" not in result.output


def test_events_show_unknown_id_exits_1(cli):
    result = cli("events", "show", "evt_nope", "--json")
    assert result.exit_code == 1
    assert result.stdout == ""


def test_replay_queues_a_copy_of_the_event(cli, cli_store):
    event_id = stored(cli_store, "run.finished", status="ignored")
    result = cli("replay", event_id)
    assert result.exit_code == 0, result.output
    copies = cli_store.list_events(source="replay")
    assert len(copies) == 1
    assert (copies[0]["replay_of"], copies[0]["status"]) == (event_id, "queued")


def test_replay_json_reports_new_ids(cli, cli_store):
    first, second = stored(cli_store, "a.b"), stored(cli_store, "c.d")
    report = as_json(cli("replay", first, second, "--json"))
    assert [r["replay_of"] for r in report["replayed"]] == [first, second]
    assert report["missing"] == []
    for replayed in report["replayed"]:
        assert cli_store.get_event(replayed["event_id"])["replay_of"] == replayed["replay_of"]


def test_replay_of_an_unknown_id_exits_1(cli, cli_store):
    known = stored(cli_store, "a.b")
    result = cli("replay", known, "evt_nope", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["missing"] == ["evt_nope"]
    assert cli_store.count_events() == 2  # the known one was still replayed


def test_replay_by_status_dry_run_changes_nothing(cli, cli_store):
    ignored = stored(cli_store, "deploy.started", status="ignored")
    stored(cli_store, "run.finished")
    report = as_json(cli("replay", "--status", "ignored", "--dry-run", "--json"))
    assert report == {"would_replay": [ignored]}
    assert cli_store.count_events() == 2


def test_replay_by_status(cli, cli_store):
    ignored = stored(cli_store, "deploy.started", status="ignored")
    stored(cli_store, "run.finished")
    report = as_json(cli("replay", "--status", "ignored", "--json"))
    assert [r["replay_of"] for r in report["replayed"]] == [ignored]


@pytest.mark.parametrize("args", [["replay"], ["replay", "evt_1", "--status", "failed"]])
def test_replay_needs_ids_or_a_status_but_not_both(cli, args):
    assert cli(*args).exit_code == 2
