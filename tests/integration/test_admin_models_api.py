"""Admin API for a model's history and rollback (the web side never touches the registry)."""

from __future__ import annotations

import json

from handler.records import AliasMove, AuditEntry
from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_history_lists_audit_entries_and_alias_moves_with_event_ids(client, store):
    store.record([AuditEntry("registered", "churn", "1", "evt_a", detail={"run_id": "r1"}),
                  AuditEntry("promoted", "churn", "1", "evt_b", actor="mlflow", alias="champion")],
                 [AliasMove("churn", "champion", "1", None, "reghook", "evt_b", "approved")])
    response = client.get("/api/models/churn/history", headers=AUTH)
    assert response.status_code == 200
    body = response.json
    assert body["model"] == "churn"
    assert [(e["kind"], e["event_id"]) for e in body["entries"]] == [  # newest first
        ("promoted", "evt_b"), ("registered", "evt_a")]
    assert body["aliases"][0]["version"] == "1" and body["aliases"][0]["event_id"] == "evt_b"


def test_history_of_a_model_name_with_slashes_and_quotes_is_found(client, store):
    name = "cat.schema/it's"
    store.record([AuditEntry("registered", name, "1", "evt_q")])
    response = client.get(f"/api/models/{name}/history", headers=AUTH)
    assert response.status_code == 200
    assert response.json["entries"][0]["model"] == name


def test_rollback_with_no_alias_history_is_a_conflict_and_queues_nothing(client, store):
    before = store.count_events()
    response = client.post("/api/models/churn/rollback", headers=AUTH, json={})
    assert response.status_code == 409
    assert response.json["error"] == "conflict"
    assert store.count_events() == before


def test_rollback_is_queued_for_the_worker_with_reason_and_target(client, store):
    store.record(moves=[AliasMove("churn", "champion", "1", None, "reghook", "evt_b")])
    response = client.post("/api/models/churn/rollback", headers=AUTH,
                           json={"to_version": "1", "reason": "bad latency"})
    assert response.status_code == 202
    event = store.get_event(response.json["event_id"])
    assert (event["source"], event["type"], event["status"]) == ("cli", "rollback.requested",
                                                                 "queued")
    assert json.loads(event["body"]) == {"model": "churn", "alias": None, "to_version": "1",
                                         "reason": "bad latency", "actor": "api"}


def test_rollback_rejects_bad_bodies_with_4xx_json(client, store):
    store.record(moves=[AliasMove("churn", "champion", "1", None, "reghook", "evt_b")])
    for body, status in ((b"not json", 400), (b"[1, 2]", 422), (b'{"to_version": 3}', 422)):
        response = client.post("/api/models/churn/rollback", headers={
            **AUTH, "Content-Type": "application/json"}, data=body)
        assert response.status_code == status, body
        assert "error" in response.json


def test_model_routes_need_the_admin_token(client):
    assert client.get("/api/models/churn/history").status_code == 401
    assert client.post("/api/models/churn/rollback", json={}).status_code == 401


def test_outbox_lists_messages_by_channel_name_without_urls(client, store):
    from handler.outcomes import Outcome

    store.record(outcomes=[("team", Outcome("registered", "churn", "2", "evt_c"))])
    response = client.get("/api/outbox?model=churn", headers=AUTH)
    assert response.status_code == 200
    [message] = response.json["messages"]
    assert (message["channel"], message["outcome"], message["status"]) == (
        "team", "registered", "pending")
    assert "url" not in json.dumps(message).lower()
    assert client.get("/api/outbox?limit=x", headers=AUTH).status_code == 400
    assert client.get("/api/outbox").status_code == 401


def _passed(store, version: str = "3") -> None:
    store.record([AuditEntry("validated", "churn", version, "evt_v",
                             detail={"status": "passed", "gates": []})])


def test_promote_is_queued_in_the_callers_name_or_as_given(client, store):
    _passed(store)
    named = client.post("/api/models/churn/promote", headers=AUTH,
                        json={"version": "3", "as": "bob"})
    anonymous = client.post("/api/models/churn/promote", headers=AUTH, json={"version": "3"})
    assert (named.status_code, anonymous.status_code) == (202, 202)
    event = store.get_event(named.json["event_id"])
    assert (event["source"], event["type"], event["status"]) == ("cli", "promote.requested",
                                                                 "queued")
    assert json.loads(event["body"]) == {"model": "churn", "version": "3", "actor": "bob",
                                         "caller": "api"}
    assert json.loads(store.get_event(anonymous.json["event_id"])["body"])["actor"] == "api"


def test_promote_of_a_version_that_did_not_pass_is_a_conflict_and_queues_nothing(client, store):
    store.record([AuditEntry("validated", "churn", "2", "evt_v", detail={"status": "failed"})])
    before = store.count_events()
    for version in ("2", "9"):  # failed; never validated
        response = client.post("/api/models/churn/promote", headers=AUTH, json={"version": version})
        assert response.status_code == 409, version
    assert store.count_events() == before


def test_promote_rejects_bodies_without_a_version(client, store):
    for body in ({}, {"version": 3}, {"version": "3", "as": ["bob"]}):
        assert client.post("/api/models/churn/promote", headers=AUTH,
                           json=body).status_code == 422, body
