"""The console's event list pages with the admin API's keyset paging (one implementation)."""

from __future__ import annotations

import re

from handler.records import AliasMove, AuditEntry
from tests.conftest import ADMIN_TOKEN

HTTPS = "https://localhost"


def _stored(store, count: int, status: str = "failed") -> list[str]:
    return [store.ingest(source="mlflow", event_type="run.finished", idempotency_key=f"k{i}",
                         status=status, body="{}", headers={})[0] for i in range(count)]


def _logged_in(client):  # type: ignore[no-untyped-def]
    # The session cookie is Secure: the test client must speak https to keep it.
    client.post("/console/login", data={"token": ADMIN_TOKEN}, base_url=HTTPS)
    return client


def _shown(html: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"/console/events/(evt_[0-9a-f]+)", html)))


def test_older_links_walk_every_event_once_newest_first(client, store):
    ids = _stored(store, 120)
    newest_first = [e["id"] for e in store.list_events(limit=200)]
    assert sorted(newest_first) == sorted(ids)
    seen, path = [], "/console/events?status=failed"
    while path:
        html = _logged_in(client).get(path, base_url=HTTPS).get_data(as_text=True)
        seen += _shown(html)
        older = re.search(r'<a rel="next" href="([^"]+)"', html)
        path = older.group(1).replace("&amp;", "&") if older else None
    assert seen == newest_first


def test_a_cursor_naming_no_event_says_so_and_shows_the_newest(client, store):
    ids = _stored(store, 3)
    response = _logged_in(client).get("/console/events?before=evt_gone", base_url=HTTPS)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "no event evt_gone" in html
    assert set(_shown(html)) == set(ids)


def test_a_models_timeline_pages_newest_first_and_shows_every_entry_once(client, store):
    # 250 decisions and 130 alias moves: three pages of audit entries, two of moves.
    for n in range(250):
        store.record(entries=[AuditEntry("validated", "churn", str(n), f"evt_{n}",
                                         detail={"status": "passed", "reason": f"entry-{n}"})],
                     moves=[AliasMove("churn", "staging", str(n), None, "reghook", None,
                                      reason=f"move-{n}")] if n < 130 else [])
    entries, moves, path, pages = [], [], "/console/models/churn", 0
    while path:
        html = _logged_in(client).get(path, base_url=HTTPS).get_data(as_text=True)
        pages += 1
        entries += re.findall(r"entry-(\d+)", html)
        moves += re.findall(r"move-(\d+)", html)
        older = re.search(r'<a rel="next" href="([^"]+)"', html)
        path = older.group(1).replace("&amp;", "&") if older else None
    assert pages == 3
    assert entries == [str(n) for n in reversed(range(250))]
    assert moves == [str(n) for n in reversed(range(130))]


def test_a_bad_timeline_cursor_is_a_400_page(client, store):
    response = _logged_in(client).get("/console/models/churn?before=nope", base_url=HTTPS)
    assert response.status_code == 400
