"""Replay rules: a copy with replay_of, never of a rejected payload."""

from __future__ import annotations

from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_a_rejected_event_cannot_be_replayed(client, store):
    event_id, _ = store.ingest(source="events", event_type="run.finished", idempotency_key="k1",
                               status="rejected", body="{}", headers={}, last_error="bad shape")
    response = client.post(f"/api/events/{event_id}/replay", headers=AUTH)
    assert response.status_code == 409
    assert response.json["error"] == "conflict"
    assert store.count_events() == 1


def test_a_replay_of_a_replay_points_at_the_original_delivery(client, store):
    original, _ = store.ingest(source="mlflow", event_type="model_version.created",
                               idempotency_key="d1", status="done", body="{}", headers={})
    first = client.post(f"/api/events/{original}/replay", headers=AUTH).json["event_id"]
    second = client.post(f"/api/events/{first}/replay", headers=AUTH).json["event_id"]
    shown = store.get_event(second)
    assert (shown["source"], shown["replay_of"], shown["status"]) == ("replay", original, "queued")


def test_an_empty_admin_token_disables_the_admin_api(settings, store, monkeypatch):
    from handler.settings import Settings
    from handler.web import create_app

    monkeypatch.setenv("REGHOOK_ADMIN_TOKEN", "")
    monkeypatch.setenv("REGHOOK_DATABASE_URL", settings.database_url)
    client = create_app(Settings(), store).test_client()
    for header in ({"Authorization": "Bearer"}, {"Authorization": "Bearer "}, {}):
        assert client.get("/api/events", headers=header).status_code == 404
