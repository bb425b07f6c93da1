"""``REGHOOK_TRUSTED_PROXY=databricks-apps``: the proxy's headers are honoured only when set.

docs/configuration.md and docs/admin-api.md: behind a Databricks App the
proxy owns ``Authorization``, so the admin token comes in
``X-Reghook-Admin-Token``, a sender's own credentials in
``X-Reghook-Authorization``, and the caller's name in ``X-Forwarded-Email``.
Anywhere else any caller could forge those headers: they must change nothing.
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from handler.records import AliasMove, AuditEntry
from handler.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_intake_routes import (
    JOB_SUCCESS,
    assert_error,
    changed,
    databricks_event,
    make_client,
)
from tests.support.web import basic_auth, databricks_delivery

JOBS_BASIC = basic_auth("jobs", "jobs-password")
JOBS_BODY = json.dumps(JOB_SUCCESS).encode()
JSON = {"Content-Type": "application/json"}
PROXY_TOKEN = {"Authorization": "Bearer dapi-the-proxy-would-have-checked-this"}


@pytest.fixture
def behind_apps(settings: Settings) -> Settings:
    """The test settings, served behind a Databricks App's proxy."""
    return changed(settings, trusted_proxy="databricks-apps")


def rollback(client, headers: dict[str, str]):
    return client.post("/api/models/churn/rollback", headers=headers, json={"reason": "bad"})


# --- the setting ------------------------------------------------------------------------


def test_trusted_proxy_is_unset_by_default_blank_is_unset_and_unknown_values_are_refused(
        monkeypatch):
    assert Settings().trusted_proxy is None
    monkeypatch.setenv("REGHOOK_TRUSTED_PROXY", "  ")
    assert Settings().trusted_proxy is None
    monkeypatch.setenv("REGHOOK_TRUSTED_PROXY", "databricks-apps")
    assert Settings().trusted_proxy == "databricks-apps"
    monkeypatch.setenv("REGHOOK_TRUSTED_PROXY", "nginx")
    with pytest.raises(ValidationError):
        Settings()


# --- admin token and caller identity ---------------------------------------------------------


def test_without_the_setting_the_admin_token_header_is_ignored(client):
    response = client.get("/api/events", headers={"X-Reghook-Admin-Token": ADMIN_TOKEN})
    assert_error(response, 401, "unauthorized")
    assert client.get("/api/events",
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 200


def test_behind_databricks_apps_the_admin_token_comes_in_its_own_header(behind_apps, store):
    client = make_client(behind_apps, store)
    ok = client.get("/api/events", headers={**PROXY_TOKEN, "X-Reghook-Admin-Token": ADMIN_TOKEN})
    assert ok.status_code == 200
    wrong = client.get("/api/events", headers={"X-Reghook-Admin-Token": "not-it"})
    assert_error(wrong, 401, "unauthorized")


def test_behind_databricks_apps_a_bearer_admin_token_is_refused_and_the_answer_says_where(
        behind_apps, store):
    client = make_client(behind_apps, store)
    body = assert_error(client.get("/api/events",
                                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}),
                        401, "unauthorized")
    assert "X-Reghook-Admin-Token" in body["detail"]


def test_without_the_setting_a_forwarded_email_does_not_name_the_rollback_actor(client, store):
    store.record(moves=[AliasMove("churn", "champion", "1", None, "reghook", "evt_b")])
    response = rollback(client, {"Authorization": f"Bearer {ADMIN_TOKEN}",
                                 "X-Forwarded-Email": "mallory@example.com"})
    assert response.status_code == 202
    assert json.loads(store.get_event(response.json["event_id"])["body"])["actor"] == "api"


def test_behind_databricks_apps_the_rollback_actor_is_the_signed_in_caller(behind_apps, store):
    store.record(moves=[AliasMove("churn", "champion", "1", None, "reghook", "evt_b")])
    client = make_client(behind_apps, store)
    named = rollback(client, {"X-Reghook-Admin-Token": ADMIN_TOKEN,
                              "X-Forwarded-Email": "alice@example.com"})
    anonymous = rollback(client, {"X-Reghook-Admin-Token": ADMIN_TOKEN})
    actors = [json.loads(store.get_event(r.json["event_id"])["body"])["actor"]
              for r in (named, anonymous)]
    assert actors == ["api:alice@example.com", "api"]


# --- a sender's credentials on the intake routes -----------------------------------------------


@pytest.mark.parametrize("route", ["/webhooks/databricks-jobs", "/api/v1/webhooks/databricks-jobs"])
def test_without_the_setting_jobs_credentials_in_the_reghook_header_are_ignored(client, store,
                                                                               route):
    response = client.post(route, data=JOBS_BODY,
                           headers={**JSON, "X-Reghook-Authorization": JOBS_BASIC})
    assert_error(response, 401, "unauthorized")
    assert store.count_events() == 0


def test_behind_databricks_apps_jobs_credentials_come_in_the_reghook_header(behind_apps, store):
    client = make_client(behind_apps, store)
    response = client.post("/api/v1/webhooks/databricks-jobs", data=JOBS_BODY, headers={
        **JSON, **PROXY_TOKEN, "X-Reghook-Authorization": JOBS_BASIC,
        "X-Forwarded-Access-Token": "user-token", "X-Forwarded-Email": "job@example.com"})
    assert response.status_code == 202, response.get_json()
    kept = {k.lower() for k in store.get_event(response.get_json()["event_id"])["headers"]}
    assert not kept & {"authorization", "x-reghook-authorization", "x-forwarded-access-token"}
    assert "x-forwarded-email" in kept


def test_behind_databricks_apps_basic_credentials_in_authorization_are_not_the_senders(
        behind_apps, store):
    client = make_client(behind_apps, store)
    response = client.post("/api/v1/webhooks/databricks-jobs", data=JOBS_BODY,
                           headers={**JSON, "Authorization": JOBS_BASIC})
    assert_error(response, 401, "unauthorized")
    assert store.count_events() == 0


def test_behind_databricks_apps_the_registry_authorization_value_comes_in_the_reghook_header(
        behind_apps, store):
    client = make_client(changed(behind_apps, databricks_authorization="Token fixed"), store)
    body, headers = databricks_delivery("dbx-secret", databricks_event())
    refused = client.post("/api/v1/webhooks/databricks", data=body,
                          headers={**headers, "Authorization": "Token fixed"})
    assert_error(refused, 401, "unauthorized")
    accepted = client.post("/api/v1/webhooks/databricks", data=body,
                           headers={**headers, "X-Reghook-Authorization": "Token fixed"})
    assert accepted.status_code == 202, accepted.get_json()


def test_credentials_in_the_reghook_header_are_never_stored_without_the_setting(client, store):
    response = client.post("/webhooks/databricks-jobs", data=JOBS_BODY, headers={
        **JSON, "Authorization": JOBS_BASIC, "X-Reghook-Authorization": "Basic c2VjcmV0"})
    assert response.status_code == 202
    kept = {k.lower() for k in store.get_event(response.get_json()["event_id"])["headers"]}
    assert "x-reghook-authorization" not in kept


def test_behind_databricks_apps_the_approver_is_the_signed_in_caller(behind_apps, store):
    store.record([AuditEntry("validated", "churn", "3", "evt_v", detail={"status": "passed"})])
    client = make_client(behind_apps, store)
    headers = {"X-Reghook-Admin-Token": ADMIN_TOKEN, "X-Forwarded-Email": "alice@example.com"}
    response = client.post("/api/models/churn/promote", headers=headers, json={"version": "3"})
    assert response.status_code == 202
    assert json.loads(store.get_event(response.json["event_id"])["body"])["actor"] == \
        "api:alice@example.com"
    assert client.post("/api/models/churn/promote", headers=headers,
                       json={"version": "3", "as": "bob"}).status_code == 400
