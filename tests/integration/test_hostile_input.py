"""What a hostile sender or a typo tried (issue 10), through Flask's test client.

Stored headers are an allow-list; deep nesting and lone surrogates are 4xx on
every route; a future Databricks date is stale; the configured Databricks
``Authorization`` is ``unauthorized``; no redirect reflects the Host header;
an unusable ``whsec_`` secret stops start-up (docs/routes.md, docs/configuration.md).
"""

from __future__ import annotations

import json
import time

import pytest
from pydantic import ValidationError

from handler.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_intake_routes import (
    ROUTES,
    VALID_BODY,
    assert_error,
    changed,
    databricks_event,
    make_client,
    signed,
)
from tests.support.web import databricks_delivery

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PROXY_CREDENTIALS = {
    "X-Forwarded-Access-Token": "dapi-user-token", "X-Api-Key": "key-123",
    "X-Amz-Security-Token": "amz-token", "Cookie": "session=abc", "X-Auth-Token": "tok",
    "Proxy-Authorization": "Basic eDp5", "X-Custom-Secret": "s3cret",
}


def nested(depth: int) -> str:
    """JSON text of objects nested ``depth`` deep (json.dumps itself recurses)."""
    return '{"a":' * depth + '"leaf"' + "}" * depth


def with_extra(body: dict, extra: str) -> bytes:
    """``body`` as JSON with one more field whose value is the JSON text ``extra``."""
    return (json.dumps(body)[:-1] + f', "extra": {extra}}}').encode()


# --- 1. stored headers: an allow-list --------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_only_headers_worth_keeping_are_stored(client, store, route):
    body, headers = signed(route, VALID_BODY[route]())
    response = client.post(route, data=body, headers={
        **headers, **PROXY_CREDENTIALS, "User-Agent": "MLflow/3", "X-Request-Id": "req-1"})
    assert response.status_code == 202, response.get_json()
    stored = {k.lower(): v for k, v in store.get_event(response.get_json()["event_id"])["headers"]
              .items()}
    assert not {k.lower() for k in PROXY_CREDENTIALS} & set(stored)
    assert not {"authorization", "x-mlflow-signature", "webhook-signature",
                "x-databricks-signature"} & set(stored)
    assert "secret" not in json.dumps(stored) and "token" not in json.dumps(stored).lower()
    assert stored["user-agent"] == "MLflow/3"
    assert stored["x-request-id"] == "req-1"
    assert stored["content-type"] == "application/json"


def test_delivery_headers_of_each_source_are_kept(client, store):
    body, headers = signed("/webhooks/mlflow", VALID_BODY["/webhooks/mlflow"]())
    event_id = client.post("/webhooks/mlflow", data=body, headers=headers).get_json()["event_id"]
    stored = {k.lower() for k in store.get_event(event_id)["headers"]}
    assert {"x-mlflow-delivery-id", "x-mlflow-timestamp"} <= stored


# --- 4. nesting and surrogates: 4xx on every route --------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("depth", [65, 1000, 5000])
def test_deeply_nested_json_is_400_on_every_intake_route(client, store, route, depth):
    raw, headers = signed(route, with_extra(VALID_BODY[route](), nested(depth)))
    assert_error(client.post(route, data=raw, headers=headers), 400, "malformed_json")
    assert store.count_events() == 0


@pytest.mark.parametrize("route", ROUTES)
def test_nesting_up_to_the_limit_is_accepted(client, route):
    raw, headers = signed(route, with_extra(VALID_BODY[route](), nested(60)))
    assert client.post(route, data=raw, headers=headers).status_code == 202


@pytest.mark.parametrize("route", ROUTES)
def test_lone_surrogate_is_400_on_every_intake_route(client, store, route):
    body = VALID_BODY[route]()
    body["note"] = "\ud800"
    raw, headers = signed(route, json.dumps(body).encode())
    assert_error(client.post(route, data=raw, headers=headers), 400, "malformed_json")
    assert store.count_events() == 0


def test_lone_surrogate_in_a_databricks_webhook_id_is_400(client, store):
    raw, headers = databricks_delivery("dbx-secret", databricks_event(webhook_id="\udc00"))
    assert_error(client.post("/webhooks/databricks", data=raw, headers=headers), 400,
                 "malformed_json")
    assert store.count_events() == 0


def test_paired_surrogates_are_an_ordinary_character(client):
    raw, headers = signed("/events", json.dumps({"type": "deploy.\U0001f600"}).encode())
    assert client.post("/events", data=raw, headers=headers).status_code == 202


@pytest.mark.parametrize("body", [
    json.dumps({"alias": "\ud800"}).encode(),
    with_extra({"alias": "prod"}, nested(1000)),
    b"[" * 100_000 + b"]" * 100_000,
])
def test_rollback_with_a_hostile_body_is_a_4xx(client, body):
    response = client.post("/api/models/churn/rollback", data=body,
                           headers={**ADMIN, "Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
                                   "99999999999999999999d"])
def test_admin_since_beyond_representable_times_is_400(client, since):
    assert_error(client.get("/api/events", query_string={"since": since}, headers=ADMIN),
                 400, "bad_request")


# --- 10. Databricks dates, Authorization, redirects -------------------------------------------


@pytest.mark.parametrize("ahead_s", [3600, 10**9, 10**37])
def test_databricks_event_from_the_future_is_stale(client, store, ahead_s):
    event = databricks_event()
    event["event_timestamp"] = int((time.time() + ahead_s) * 1000)
    raw, headers = databricks_delivery("dbx-secret", event)
    assert_error(client.post("/webhooks/databricks", data=raw, headers=headers), 401,
                 "stale_timestamp")
    assert store.count_events() == 0


def test_databricks_clock_skew_within_tolerance_is_accepted(client):
    event = databricks_event()
    event["event_timestamp"] = int((time.time() + 60) * 1000)
    raw, headers = databricks_delivery("dbx-secret", event)
    assert client.post("/webhooks/databricks", data=raw, headers=headers).status_code == 202


@pytest.mark.parametrize("authorization", [None, "Bearer nope", "bearer dbx-auth"])
def test_wrong_or_missing_databricks_authorization_is_unauthorized(settings, store,
                                                                   authorization):
    client = make_client(changed(settings, databricks_authorization="Bearer dbx-auth"), store)
    raw, headers = databricks_delivery("dbx-secret", databricks_event(),
                                       authorization=authorization)
    assert_error(client.post("/webhooks/databricks", data=raw, headers=headers), 401,
                 "unauthorized")
    del headers["X-Databricks-Signature"]
    assert_error(client.post("/webhooks/databricks", data=raw, headers=headers), 401,
                 "unauthorized")
    assert store.count_events() == 0


@pytest.mark.parametrize("path", ["//events", "/webhooks//mlflow", "//healthz", "/api//events"])
def test_doubled_slashes_are_not_redirected_to_the_callers_host(client, path):
    response = client.post(path, headers={"Host": "evil.example"})
    assert response.status_code == 404 or response.status_code == 405
    assert "evil.example" not in response.headers.get("Location", "")
    response = client.get(path, headers={"Host": "evil.example"})
    assert not 300 <= response.status_code < 400
    assert "evil.example" not in response.get_data(as_text=True)


# --- 9. unusable Standard Webhooks secrets stop start-up -----------------------------------------


@pytest.mark.parametrize("secrets", [
    "whsec_", "whsec_not base64!", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,whsec_", "whsec_=="])
def test_unusable_events_secret_is_refused_without_echoing_it(secrets):
    with pytest.raises(ValidationError) as refused:
        Settings(events_secrets=secrets)
    message = str(refused.value)
    assert "REGHOOK_EVENTS_SECRETS" in message and "whsec_<base64>" in message
    assert "not base64!" not in message and "MfKQ9r8G" not in message


# --- 8. metric labels stay bounded ------------------------------------------------------------


def test_sender_chosen_type_names_never_become_metric_labels(client):
    raw, headers = signed("/events", {"type": "zz-unique-ignored-type"})
    client.post("/events", data=raw, headers=headers)
    assert client.post("/events", data=raw, headers=headers).get_json()["status"] == "duplicate"
    event = databricks_event("TRANSITION_REQUEST_TO_ZZUNIQUESTAGE_CREATED")
    raw, headers = databricks_delivery("dbx-secret", event)
    assert client.post("/webhooks/databricks", data=raw, headers=headers).status_code == 202
    exposition = client.get("/metrics").get_data(as_text=True)
    assert "zz-unique" not in exposition and "ZZUNIQUE" not in exposition
    assert 'type="TRANSITION_REQUEST_CREATED"' in exposition
