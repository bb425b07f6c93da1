"""Newest-first lists at any depth: keyset paging of events and of a model's history.

docs/admin-api.md: ``GET /api/events`` and ``GET /api/models/<name>/history``
answer one page and the ``next`` cursor, passed back as ``before``.
"""

from __future__ import annotations

import json
from datetime import timedelta

from handler.records import AliasMove, AuditEntry
from handler.store import Store
from handler.store.engine import utcnow
from tests.conftest import ADMIN_TOKEN
from tests.support.store_queries import touch_event

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _stored(store: Store, n: int, *, status: str = "queued", source: str = "events",
            event_type: str = "run.finished", tag: str = "") -> list[str]:
    ids = []
    for i in range(n):
        event_id, _ = store.ingest(source=source, event_type=event_type,
                                   idempotency_key=f"{tag}{source}-{event_type}-{status}-{i}",
                                   status=status, body="{}", headers={})
        ids.append(event_id)
    return ids


def _pages(client, query: str, limit: int) -> list[list[str]]:
    """Every page of ``/api/events?<query>``, following ``next`` until it is null."""
    pages, before = [], ""
    while True:
        response = client.get(f"/api/events?{query}&limit={limit}{before}", headers=AUTH)
        assert response.status_code == 200, response.json
        pages.append([e["id"] for e in response.json["events"]])
        if response.json["next"] is None:
            return pages
        assert response.json["next"] == pages[-1][-1]
        before = f"&before={response.json['next']}"


def test_pages_cover_every_event_once_in_newest_first_order_even_with_equal_times(client, store):
    ids = _stored(store, 23)
    # Several events received in the same microsecond: the id breaks the tie.
    same = utcnow() - timedelta(minutes=5)
    for event_id in ids[5:12]:
        touch_event(store, event_id, received_at=same)
    everything = [e["id"] for e in store.list_events(limit=100)]
    pages = _pages(client, "", limit=4)
    assert [len(p) for p in pages] == [4, 4, 4, 4, 4, 3]
    assert [i for page in pages for i in page] == everything
    assert sorted(everything) == sorted(ids)


def test_the_last_full_page_says_there_is_no_next(client, store):
    _stored(store, 6)
    assert [len(p) for p in _pages(client, "", limit=3)] == [3, 3]


def test_events_stored_between_pages_shift_nothing(client, store):
    original = _stored(store, 12, tag="old")
    first = client.get("/api/events?limit=5", headers=AUTH).json
    newer = _stored(store, 4, tag="new")  # arrive while the operator reads page one
    seen = [e["id"] for e in first["events"]]
    before = first["next"]
    while before:
        page = client.get(f"/api/events?limit=5&before={before}", headers=AUTH).json
        seen += [e["id"] for e in page["events"]]
        before = page["next"]
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(original)
    assert not set(newer) & set(seen)


def test_combined_filters_page_through_exactly_the_matching_events(client, store):
    wanted = _stored(store, 7, status="failed", source="mlflow", event_type="model_version.created")
    _stored(store, 5, status="done", source="mlflow", event_type="model_version.created")
    _stored(store, 5, status="failed", source="events", event_type="model_version.created")
    _stored(store, 5, status="failed", source="mlflow", event_type="model_version.tag_set")
    query = "status=failed&source=mlflow&type=model_version.created"
    pages = _pages(client, query, limit=3)
    assert [i for page in pages for i in page] == list(reversed(wanted))
    old = utcnow() - timedelta(days=2)
    for event_id in wanted[:2]:
        touch_event(store, event_id, received_at=old)
    since = (utcnow() - timedelta(days=1)).isoformat()
    recent = _pages(client, f"{query}&since={since.replace('+', '%2B')}", limit=2)
    assert [i for page in recent for i in page] == list(reversed(wanted[2:]))


def test_an_unknown_before_is_a_bad_request(client, store):
    _stored(store, 2)
    response = client.get("/api/events?before=evt_nope", headers=AUTH)
    assert response.status_code == 400
    assert "evt_nope" in response.json["detail"]


def _long_history(store: Store, versions: int) -> None:
    for version in range(1, versions + 1):
        store.record([AuditEntry("registered", "churn", str(version), f"evt_{version}")],
                     [AliasMove("churn", "staging", str(version), str(version - 1), "reghook",
                                f"evt_{version}")] if version % 3 == 0 else [])


def test_history_shows_the_newest_entries_first_even_past_a_thousand(client, store):
    _long_history(store, 1203)
    body = client.get("/api/models/churn/history?limit=50", headers=AUTH).json
    assert [e["version"] for e in body["entries"][:3]] == ["1203", "1202", "1201"]
    assert [m["version"] for m in body["aliases"][:2]] == ["1203", "1200"]
    # The in-process trail (gates of `reghook govern`) keeps the newest too, oldest first.
    trail = store.audit_trail("churn")
    assert len(trail) == 1000 and trail[-1]["version"] == "1203"


def test_history_pages_cover_every_entry_and_alias_move_once(client, store):
    _long_history(store, 250)
    entries, moves, before, pages = [], [], "", 0
    while True:
        body = client.get(f"/api/models/churn/history?limit=60{before}", headers=AUTH).json
        entries += [int(e["version"]) for e in body["entries"]]
        moves += [int(m["version"]) for m in body["aliases"]]
        pages += 1
        if body["next"] is None:
            break
        before = f"&before={body['next']}"
    assert entries == list(range(250, 0, -1))
    assert moves == list(range(249, 0, -3))
    assert pages == 5


def test_a_cursor_history_never_gave_is_a_bad_request(client, store):
    response = client.get("/api/models/churn/history?before=evt_1", headers=AUTH)
    assert response.status_code == 400


def test_cli_events_list_and_history_page_with_before(monkeypatch, sqlite_url, store):
    from click.testing import CliRunner

    from handler.cli import main

    monkeypatch.setenv("REGHOOK_DATABASE_URL", sqlite_url)
    ids = list(reversed(_stored(store, 5)))
    runner = CliRunner()
    first = json.loads(runner.invoke(main, ["events", "list", "--limit", "3", "--json"]).output)
    assert [e["id"] for e in first["events"]] == ids[:3] and first["next"] == ids[2]
    rest = json.loads(runner.invoke(main, ["events", "list", "--limit", "3", "--before",
                                           first["next"], "--json"]).output)
    assert [e["id"] for e in rest["events"]] == ids[3:] and rest["next"] is None
    _long_history(store, 5)
    page = json.loads(runner.invoke(main, ["history", "churn", "--limit", "2", "--json"]).output)
    assert [e["version"] for e in page["entries"]] == ["5", "4"]
    more = runner.invoke(main, ["history", "churn", "--limit", "2", "--before", page["next"],
                                "--json"]).output
    assert [e["version"] for e in json.loads(more)["entries"]] == ["3", "2"]
