"""The front door through Flask's test client: every inbound route, the admin API, health, metrics.

docs/routes.md (inbound routes and responses) and §7 (admin API). Every rejected
request must answer ``{"error", "detail"}`` and leave nothing unauthenticated
in the store.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from handler.bootstrap import build_web
from handler.settings import Settings
from handler.store import Store, upgrade
from handler.web import create_app
from tests.conftest import ADMIN_TOKEN, EVENTS_SECRET, MLFLOW_SECRET
from tests.support.web import (
    basic_auth,
    databricks_delivery,
    mlflow_delivery,
    standard_delivery,
)

DBX_SECRET = "dbx-secret"
JOBS_AUTH = basic_auth("jobs", "jobs-password")
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
EVENT_KEYS = {"id", "source", "type", "status", "received_at", "attempts", "last_error",
              "idempotency_key", "replay_of"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def model_version_created(name: str = "churn", version: str = "1") -> dict:
    return {"entity": "model_version", "action": "created",
            "timestamp": "2026-11-26T20:55:05.790907+00:00",
            "data": {"name": name, "version": version, "source": "models:/m-6a6da6c2",
                     "run_id": "02ad50577ae84b118e8ff9bee7d9711f", "tags": {}, "description": None}}


def databricks_event(event: str = "MODEL_VERSION_CREATED", *, age_s: float = 0, **extra) -> dict:
    return {"event": event, "webhook_id": "c5596721253c4b429368cf6f4341b88a",
            "event_timestamp": int((time.time() - age_s) * 1000), "model_name": "churn",
            "version": "8", "text": "A new version was created.", **extra}


JOB_SUCCESS = {"event_type": "jobs.on_success", "workspace_id": "1234",
               "run": {"run_id": "5678"}, "job": {"job_id": "91", "name": "train"}}
RUN_FINISHED = {"type": "run.finished", "run_id": "02ad50577ae84b118e8ff9bee7d9711f",
                "model": "churn"}


def assert_error(response, status: int, code: str) -> dict:
    """A 4xx/5xx answer with the JSON error shape of docs/routes.md."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert body["error"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def make_client(settings: Settings, store: Store, **kwargs):
    return create_app(settings, store, **kwargs).test_client()


def changed(settings: Settings, **changes) -> Settings:
    """``settings`` with some values changed, validated as if read from the environment."""
    return Settings(**{**settings.model_dump(), **changes})


# --- per-route senders ----------------------------------------------------------------

ROUTES = ["/webhooks/mlflow", "/webhooks/databricks", "/webhooks/databricks-jobs", "/events"]
VALID_BODY: dict[str, Callable[[], dict]] = {
    "/webhooks/mlflow": model_version_created,
    "/webhooks/databricks": databricks_event,
    "/webhooks/databricks-jobs": lambda: dict(JOB_SUCCESS),
    "/events": lambda: dict(RUN_FINISHED),
}


def signed(route: str, body: dict | bytes, *, secret: str | None = None,
           timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and authentic headers for ``route`` (or forged ones with another secret)."""
    if route == "/webhooks/mlflow":
        return mlflow_delivery(secret or MLFLOW_SECRET, body, timestamp=timestamp)
    if route == "/events":
        return standard_delivery(secret or EVENTS_SECRET, body, timestamp=timestamp)
    if route == "/webhooks/databricks":
        return databricks_delivery(secret or DBX_SECRET, body)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw, {"Content-Type": "application/json",
                 "Authorization": basic_auth("jobs", secret or "jobs-password")}


AUTH_HEADERS = {
    "/webhooks/mlflow": ["X-MLflow-Signature", "X-MLflow-Timestamp", "X-MLflow-Delivery-Id"],
    "/events": ["webhook-signature", "webhook-timestamp", "webhook-id"],
    "/webhooks/databricks": ["X-Databricks-Signature"],
    "/webhooks/databricks-jobs": ["Authorization"],
}
FORGED_CODE = {"/webhooks/databricks-jobs": "unauthorized"}
MISSING_CODE = {"/webhooks/databricks-jobs": "unauthorized"}


# --- 202 / 200 / ignored / 422 --------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_new_authentic_delivery_is_queued_with_202(client, store, route):
    body, headers = signed(route, VALID_BODY[route]())
    response = client.post(route, data=body, headers=headers)
    assert response.status_code == 202
    answer = response.get_json()
    assert answer["status"] == "queued"
    stored = store.get_event(answer["event_id"])
    assert stored is not None
    assert stored["status"] == "queued"
    assert stored["body"] == body.decode()
    assert store.count_events() == 1


@pytest.mark.parametrize("route", ROUTES)
def test_duplicate_delivery_returns_original_event_id(client, store, route):
    body, headers = signed(route, VALID_BODY[route]())
    first = client.post(route, data=body, headers=headers)
    second = client.post(route, data=body, headers=headers)
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.get_json() == {"event_id": first.get_json()["event_id"], "status": "duplicate"}
    assert store.count_events() == 1


def test_mlflow_retry_is_keyed_by_delivery_id_not_by_body(client, store):
    body, headers = mlflow_delivery(MLFLOW_SECRET, model_version_created(), delivery_id="same-id")
    first = client.post("/webhooks/mlflow", data=body, headers=headers)
    later_body, later_headers = mlflow_delivery(
        MLFLOW_SECRET, model_version_created(version="2"), delivery_id="same-id")
    again = client.post("/webhooks/mlflow", data=later_body, headers=later_headers)
    other_body, other_headers = mlflow_delivery(MLFLOW_SECRET, model_version_created())
    other = client.post("/webhooks/mlflow", data=other_body, headers=other_headers)
    assert again.get_json()["event_id"] == first.get_json()["event_id"]
    assert other.status_code == 202
    assert store.count_events() == 2


def test_captured_mlflow_deliveries_are_accepted_with_a_frozen_clock(settings, store,
                                                                       captured_deliveries):
    for delivery in captured_deliveries:
        clock = float(delivery["headers"]["X-Mlflow-Timestamp"])
        client = make_client(settings, store, clock=lambda c=clock: c)
        response = client.post("/webhooks/mlflow", data=delivery["body"].encode(),
                               headers=delivery["headers"])
        assert response.status_code == 202, response.get_json()
        stored = store.get_event(response.get_json()["event_id"])
        body = json.loads(delivery["body"])
        assert stored["type"] == f"{body['entity']}.{body['action']}"
        assert stored["idempotency_key"] == delivery["headers"]["X-Mlflow-Delivery-Id"]
    assert store.count_events() == len(captured_deliveries)


def test_captured_mlflow_delivery_is_stale_with_the_real_clock(client, store, captured_deliveries):
    delivery = captured_deliveries[0]
    # Captured in the past (or, on a machine whose clock is behind, "in the future").
    if abs(time.time() - int(delivery["headers"]["X-Mlflow-Timestamp"])) <= 300:
        pytest.skip("the machine clock is within tolerance of the capture time")
    response = client.post("/webhooks/mlflow", data=delivery["body"].encode(),
                           headers=delivery["headers"])
    assert_error(response, 401, "stale_timestamp")
    assert store.count_events() == 0


@pytest.mark.parametrize(("route", "body"), [
    ("/webhooks/mlflow", {"entity": "prompt", "action": "created", "data": {"name": "p"}}),
    ("/webhooks/mlflow", {"entity": "budget_policy", "action": "exceeded", "data": {}}),
    ("/webhooks/databricks", databricks_event("MODEL_VERSION_DELETED")),
    ("/webhooks/databricks-jobs", dict(JOB_SUCCESS, event_type="jobs.on_start")),
    ("/events", {"type": "deploy.started"}),
])
def test_authentic_event_of_an_unknown_type_is_stored_as_ignored(client, store, route, body):
    if "event_timestamp" in body:
        # Made at collection: on a slow run the suite can take longer than the
        # accepted age before this test runs, so the delivery is dated now.
        body = {**body, "event_timestamp": int(time.time() * 1000)}
    raw, headers = signed(route, body)
    response = client.post(route, data=raw, headers=headers)
    assert response.status_code == 202
    assert response.get_json()["status"] == "ignored"
    assert store.get_event(response.get_json()["event_id"])["status"] == "ignored"


@pytest.mark.parametrize(("route", "body"), [
    ("/webhooks/mlflow", {"entity": "model_version", "action": "created", "data": {"name": "m"}}),
    ("/webhooks/mlflow", {"entity": "model_version_alias", "action": "created",
                          "data": {"name": "m", "alias": "champion"}}),
    ("/webhooks/mlflow", [1, 2, 3]),
    ("/webhooks/databricks", {"event": "MODEL_VERSION_CREATED", "event_timestamp": 1}),
    ("/webhooks/databricks-jobs", {"event_type": "jobs.on_success", "run": {}}),
    ("/events", {"type": "run.finished"}),
    ("/events", {"type": "run.finished", "run_id": "x' OR '1'='1"}),
])
def test_authentic_payload_of_the_wrong_shape_is_422_and_stored_as_rejected(client, store, route,
                                                                             body):
    raw, headers = signed(route, json.dumps(body).encode())
    response = client.post(route, data=raw, headers=headers)
    answer = assert_error(response, 422, "invalid_payload")
    assert isinstance(answer["errors"], list)
    stored = store.get_event(answer["event_id"])
    assert stored["status"] == "rejected"
    assert stored["last_error"]
    assert stored["body"] == raw.decode()
    assert store.count_events() == 1


def test_rejected_payload_sent_again_is_stored_once(client, store):
    raw, headers = signed("/events", {"type": "run.finished"})
    first = client.post("/events", data=raw, headers=headers)
    second = client.post("/events", data=raw, headers=headers)
    assert first.status_code == second.status_code == 422
    assert first.get_json()["event_id"] == second.get_json()["event_id"]
    assert store.count_events() == 1


def test_rejected_payload_shows_its_declared_type(client, store):
    raw, headers = signed("/webhooks/mlflow", {"entity": "model_version", "action": "created",
                                               "data": {}})
    event_id = client.post("/webhooks/mlflow", data=raw, headers=headers).get_json()["event_id"]
    assert store.get_event(event_id)["type"] == "model_version.created"


@pytest.mark.parametrize(("route", "setting"), [
    ("/webhooks/mlflow", {"mlflow_secrets": None}),
    ("/webhooks/databricks", {"databricks_secrets": None}),
    ("/webhooks/databricks-jobs", {"databricks_jobs_password": None}),
    ("/webhooks/databricks-jobs", {"databricks_jobs_user": None}),
    ("/events", {"events_secrets": None}),
    ("/events", {"events_secrets": " , "}),
])
def test_route_without_its_secret_answers_404_source_disabled(settings, store, route, setting):
    client = make_client(changed(settings, **setting), store)
    raw, headers = signed(route, VALID_BODY[route]())
    assert_error(client.post(route, data=raw, headers=headers), 404, "source_disabled")
    assert store.count_events() == 0


# --- the bad-input corpus: nothing unauthenticated is stored --------------------------


def _forged(route):
    return signed(route, VALID_BODY[route](), secret="not-the-secret" if route != "/events"
                  else "whsec_bm90LXRoZS1zZWNyZXQtYXQtYWxsLW5vLXNpcg==")


def _tampered(route):
    raw, headers = signed(route, VALID_BODY[route]())
    return raw.replace(b"churn", b"churm").replace(b"5678", b"5679"), headers


def _missing(route):
    raw, headers = signed(route, VALID_BODY[route]())
    return raw, {k: v for k, v in headers.items() if k not in AUTH_HEADERS[route]}


def _non_json(route):
    return signed(route, b"this is not json")


def _non_utf8(route):
    return signed(route, b'{"type": "\xff\xfe"}')


def _wrong_content_type(route):
    raw, headers = signed(route, VALID_BODY[route]())
    return raw, dict(headers, **{"Content-Type": "text/plain"})


def _form_content_type(route):
    raw, headers = signed(route, VALID_BODY[route]())
    return raw, dict(headers, **{"Content-Type": "application/x-www-form-urlencoded"})


def _no_content_type(route):
    raw, headers = signed(route, VALID_BODY[route]())
    return raw, {k: v for k, v in headers.items() if k != "Content-Type"}


def _empty_body(route):
    return signed(route, b"")


CORPUS = {
    # name: (builder, expected status, expected code or None for the route's own code)
    "forged": (_forged, 401, "invalid_signature"),
    "missing_auth_headers": (_missing, 401, "missing_signature"),
    "non_json": (_non_json, 400, "malformed_json"),
    "non_utf8": (_non_utf8, 400, "malformed_json"),
    "empty_body": (_empty_body, 400, "malformed_json"),
    "wrong_content_type": (_wrong_content_type, 415, "unsupported_media_type"),
    "form_content_type": (_form_content_type, 415, "unsupported_media_type"),
    "no_content_type": (_no_content_type, 415, "unsupported_media_type"),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
@pytest.mark.parametrize("route", ROUTES)
def test_bad_input_is_a_json_4xx_and_stores_nothing(client, store, route, case):
    build, status, code = CORPUS[case]
    if case == "forged":
        code = FORGED_CODE.get(route, code)
    if case == "missing_auth_headers":
        code = MISSING_CODE.get(route, code)
    raw, headers = build(route)
    assert_error(client.post(route, data=raw, headers=headers), status, code)
    assert store.count_events() == 0


@pytest.mark.parametrize("route", ["/webhooks/mlflow", "/webhooks/databricks", "/events"])
def test_tampered_body_is_invalid_signature_and_stores_nothing(client, store, route):
    raw, headers = _tampered(route)
    assert_error(client.post(route, data=raw, headers=headers), 401, "invalid_signature")
    assert store.count_events() == 0


@pytest.mark.parametrize("offset", [-3600, -301, 301, 3600])
@pytest.mark.parametrize("route", ["/webhooks/mlflow", "/events"])
def test_stale_or_future_timestamp_is_rejected_and_stores_nothing(client, store, route, offset):
    raw, headers = signed(route, VALID_BODY[route](), timestamp=int(time.time()) + offset)
    assert_error(client.post(route, data=raw, headers=headers), 401, "stale_timestamp")
    assert store.count_events() == 0


@pytest.mark.parametrize("route", ["/webhooks/mlflow", "/events"])
def test_timestamp_within_tolerance_is_accepted(client, route):
    raw, headers = signed(route, VALID_BODY[route](), timestamp=int(time.time()) - 200)
    assert client.post(route, data=raw, headers=headers).status_code == 202


@pytest.mark.parametrize("value", ["garbage", "v1,a,b", "v1,!!!", "v1,", "v2,AAAA", "",
                                   "v1,\xff\xfe", "sha256=abcdef"])
@pytest.mark.parametrize("route", ["/webhooks/mlflow", "/events", "/webhooks/databricks"])
def test_malformed_signature_header_is_401_and_stores_nothing(client, store, route, value):
    raw, headers = signed(route, VALID_BODY[route]())
    headers[AUTH_HEADERS[route][0]] = value
    response = client.post(route, data=raw, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] in {"invalid_signature", "missing_signature"}
    assert store.count_events() == 0


@pytest.mark.parametrize("value", ["abc", "1" * 400, "-" + "9" * 400, "1e9", ""])
@pytest.mark.parametrize("route", ["/webhooks/mlflow", "/events"])
def test_malformed_timestamp_header_is_401_and_stores_nothing(client, store, route, value):
    raw, headers = signed(route, VALID_BODY[route]())
    headers[AUTH_HEADERS[route][1]] = value
    response = client.post(route, data=raw, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] in {"invalid_signature", "missing_signature",
                                            "stale_timestamp"}
    assert store.count_events() == 0


@pytest.mark.parametrize("route", ROUTES)
def test_oversized_body_with_content_length_is_413_and_stores_nothing(settings, store, route):
    client = make_client(changed(settings, max_body_bytes=1024), store)
    body = VALID_BODY[route]()
    body["padding"] = "x" * 2000
    raw, headers = signed(route, body)
    assert_error(client.post(route, data=raw, headers=headers), 413, "body_too_large")
    assert store.count_events() == 0


def post_chunked(client, route: str, raw: bytes, headers: dict[str, str]):
    """A POST with no Content-Length, as a server hands over a chunked body."""
    return client.post(route, headers=dict(headers, **{"Transfer-Encoding": "chunked"}),
                       environ_overrides={"wsgi.input": io.BytesIO(raw),
                                          "wsgi.input_terminated": True})


@pytest.mark.parametrize("route", ROUTES)
def test_oversized_chunked_body_is_413_and_stores_nothing(settings, store, route):
    client = make_client(changed(settings, max_body_bytes=1024), store)
    body = VALID_BODY[route]()
    body["padding"] = "x" * 2000
    raw, headers = signed(route, body)
    assert_error(post_chunked(client, route, raw, headers), 413, "body_too_large")
    assert store.count_events() == 0


@pytest.mark.parametrize("route", ROUTES)
def test_chunked_body_within_the_limit_is_read_whole_and_accepted(settings, store, route):
    client = make_client(changed(settings, max_body_bytes=1024), store)
    raw, headers = signed(route, VALID_BODY[route]())
    response = post_chunked(client, route, raw, headers)
    assert response.status_code == 202
    assert store.get_event(response.get_json()["event_id"])["body"] == raw.decode()


def test_body_exactly_at_the_limit_is_accepted(settings, store):
    raw, headers = signed("/events", {"type": "deploy.started", "pad": ""})
    pad = 1024 - len(raw)
    raw, headers = signed("/events", {"type": "deploy.started", "pad": "x" * pad})
    assert len(raw) == 1024
    client = make_client(changed(settings, max_body_bytes=1024), store)
    assert client.post("/events", data=raw, headers=headers).status_code == 202


def test_default_limit_is_one_mebibyte(client, store):
    body = {"type": "deploy.started", "pad": "x" * (1024 * 1024)}
    raw, headers = signed("/events", body)
    assert_error(client.post("/events", data=raw, headers=headers), 413, "body_too_large")
    assert_error(post_chunked(client, "/events", raw, headers), 413, "body_too_large")
    assert store.count_events() == 0


class BrokenStream(io.RawIOBase):
    """A body stream that fails mid-read, as gunicorn's reader does on a bad chunked body."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise OSError("Invalid chunk size")


def test_body_that_cannot_be_read_is_400_not_5xx(client, store):
    response = client.post("/events", headers={"Content-Type": "application/json",
                                               "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input": BrokenStream(),
                                              "wsgi.input_terminated": True})
    assert_error(response, 400, "bad_request")
    assert store.count_events() == 0


@pytest.mark.parametrize("route", ROUTES)
def test_get_on_an_inbound_route_is_405_json(client, route):
    assert_error(client.get(route), 405, "method_not_allowed")


def test_unknown_path_is_404_json(client):
    assert_error(client.post("/webhooks/nothing-here", data=b"{}"), 404, "not_found")


# --- secret rotation ------------------------------------------------------------------


def test_mlflow_accepts_any_of_several_configured_secrets(settings, store):
    client = make_client(changed(settings, mlflow_secrets="old-secret, new-secret"),
                         store)
    for secret in ("old-secret", "new-secret"):
        raw, headers = signed("/webhooks/mlflow", model_version_created(), secret=secret)
        assert client.post("/webhooks/mlflow", data=raw, headers=headers).status_code == 202
    raw, headers = signed("/webhooks/mlflow", model_version_created(), secret="s3cret")
    assert_error(client.post("/webhooks/mlflow", data=raw, headers=headers), 401,
                 "invalid_signature")


def test_events_accepts_any_of_several_secrets_and_signature_lists(settings, store):
    other = "whsec_bm90LXRoZS1zZWNyZXQtYXQtYWxsLW5vLXNpcg=="
    client = make_client(changed(settings, events_secrets=f"{other},{EVENTS_SECRET}"),
                         store)
    raw, headers = signed("/events", RUN_FINISHED, secret=other)
    assert client.post("/events", data=raw, headers=headers).status_code == 202
    raw, headers = signed("/events", RUN_FINISHED)
    headers["webhook-signature"] = "v1,AAAAAAAA v2,whatever " + headers["webhook-signature"]
    assert client.post("/events", data=raw, headers=headers).status_code == 202


# --- Databricks registry --------------------------------------------------------------


def test_databricks_signed_delivery_is_queued_with_its_type(client, store):
    event = databricks_event("TRANSITION_REQUEST_TO_PRODUCTION_CREATED", to_stage="Production")
    raw, headers = databricks_delivery(DBX_SECRET, event)
    response = client.post("/webhooks/databricks", data=raw, headers=headers)
    assert response.status_code == 202
    stored = store.get_event(response.get_json()["event_id"])
    assert (stored["source"], stored["type"], stored["status"]) == (
        "databricks", "TRANSITION_REQUEST_TO_PRODUCTION_CREATED", "queued")
    assert re.fullmatch(r"[0-9a-f]{64}", stored["idempotency_key"])


def test_databricks_event_timestamp_too_old_is_401_stale(client, store):
    raw, headers = databricks_delivery(DBX_SECRET, databricks_event(age_s=301))
    assert_error(client.post("/webhooks/databricks", data=raw, headers=headers), 401,
                 "stale_timestamp")
    assert store.count_events() == 0


def test_databricks_max_age_is_configurable(settings, store):
    client = make_client(changed(settings, databricks_max_age_s=3600), store)
    raw, headers = databricks_delivery(DBX_SECRET, databricks_event(age_s=1800))
    assert client.post("/webhooks/databricks", data=raw, headers=headers).status_code == 202


def test_databricks_documented_example_is_accepted_at_its_own_time(settings, store):
    payload = {"event": "MODEL_VERSION_TRANSITIONED_STAGE",
               "webhook_id": "c5596721253c4b429368cf6f4341b88a", "event_timestamp": 1589859029343,
               "model_name": "Airline_Delay_SparkML", "version": "8", "to_stage": "Production",
               "from_stage": "None", "text": "..."}
    raw, headers = databricks_delivery(DBX_SECRET, payload)
    client = make_client(settings, store, clock=lambda: 1589859029.343 + 10)
    assert client.post("/webhooks/databricks", data=raw, headers=headers).status_code == 202


def test_databricks_version_as_number_or_string_is_the_same_delivery(client, store):
    event = databricks_event()
    raw, headers = databricks_delivery(DBX_SECRET, event)
    first = client.post("/webhooks/databricks", data=raw, headers=headers)
    raw, headers = databricks_delivery(DBX_SECRET, dict(event, version=8))
    again = client.post("/webhooks/databricks", data=raw, headers=headers)
    assert again.status_code == 200
    assert again.get_json()["event_id"] == first.get_json()["event_id"]


def test_databricks_huge_event_timestamp_is_not_a_server_error(client):
    raw, headers = databricks_delivery(DBX_SECRET, databricks_event(event_timestamp=10**400))
    response = client.post("/webhooks/databricks", data=raw, headers=headers)
    assert response.status_code < 500
    assert response.status_code in (202, 401, 422)


def test_databricks_configured_authorization_is_required_and_never_stored(settings, store):
    client = make_client(changed(settings, databricks_authorization="Bearer dbx-auth"),
                         store)
    raw, headers = databricks_delivery(DBX_SECRET, databricks_event())
    assert_error(client.post("/webhooks/databricks", data=raw, headers=headers), 401,
                 "unauthorized")
    raw, headers = databricks_delivery(DBX_SECRET, databricks_event(), authorization="Bearer nope")
    assert_error(client.post("/webhooks/databricks", data=raw, headers=headers), 401,
                 "unauthorized")
    assert store.count_events() == 0
    raw, headers = databricks_delivery(DBX_SECRET, databricks_event(),
                                       authorization="Bearer dbx-auth")
    response = client.post("/webhooks/databricks", data=raw, headers=headers)
    assert response.status_code == 202
    stored_headers = store.get_event(response.get_json()["event_id"])["headers"]
    assert {k.lower() for k in stored_headers}.isdisjoint(
        {"authorization", "x-databricks-signature"})


# --- Databricks jobs ------------------------------------------------------------------


def test_databricks_job_notification_with_basic_auth_is_queued(client, store):
    response = client.post("/webhooks/databricks-jobs", json=JOB_SUCCESS,
                           headers={"Authorization": JOBS_AUTH})
    assert response.status_code == 202
    stored = store.get_event(response.get_json()["event_id"])
    assert (stored["source"], stored["type"], stored["idempotency_key"]) == (
        "databricks_jobs", "jobs.on_success", "91:5678:jobs.on_success")
    assert "Authorization" not in stored["headers"]


def test_databricks_job_ids_as_numbers_are_the_same_notification(client):
    first = client.post("/webhooks/databricks-jobs", json=JOB_SUCCESS,
                        headers={"Authorization": JOBS_AUTH})
    numeric = {"event_type": "jobs.on_success", "workspace_id": 1234, "run": {"run_id": 5678},
               "job": {"job_id": 91}}
    again = client.post("/webhooks/databricks-jobs", json=numeric,
                        headers={"Authorization": JOBS_AUTH})
    assert again.status_code == 200
    assert again.get_json()["event_id"] == first.get_json()["event_id"]


@pytest.mark.parametrize("authorization", [
    basic_auth("jobs", "wrong"), basic_auth("other", "jobs-password"), "Bearer jobs-password",
    "Basic !!!", "Basic"])
def test_databricks_job_notification_with_wrong_credentials_is_401(client, store, authorization):
    response = client.post("/webhooks/databricks-jobs", json=JOB_SUCCESS,
                           headers={"Authorization": authorization})
    assert_error(response, 401, "unauthorized")
    assert store.count_events() == 0


# --- /events --------------------------------------------------------------------------


def test_event_is_keyed_by_webhook_id(client, store):
    raw, headers = standard_delivery(EVENTS_SECRET, RUN_FINISHED, msg_id="msg_fixed")
    event_id = client.post("/events", data=raw, headers=headers).get_json()["event_id"]
    assert store.get_event(event_id)["idempotency_key"] == "msg_fixed"
    raw, headers = standard_delivery(EVENTS_SECRET, dict(RUN_FINISHED, model="other"),
                                     msg_id="msg_fixed")
    assert client.post("/events", data=raw, headers=headers).get_json() == {
        "event_id": event_id, "status": "duplicate"}


def test_signature_headers_are_not_stored(client, store):
    raw, headers = standard_delivery(EVENTS_SECRET, RUN_FINISHED)
    event_id = client.post("/events", data=raw, headers=headers).get_json()["event_id"]
    stored = {k.lower(): v for k, v in store.get_event(event_id)["headers"].items()}
    assert "webhook-signature" not in stored
    assert stored["webhook-id"] == headers["webhook-id"]


# --- odd but authentic values: stored, never a 5xx ------------------------------------


ODD_EVENTS = [
    ({"type": "a\u0000b"}, "msg_nul"),
    ({"type": "t" * 500}, "msg_long_type"),
    ({"type": "deploy.started"}, "m" * 300),
    ({"type": "run.finished", "run_id": "abc"}, "n" * 300),
    ({"type": "run.finished"}, "r" * 300),  # rejected, keyed by a long id
]


def _assert_odd_events_are_stored_once(client, store) -> None:
    for body, msg_id in ODD_EVENTS:
        raw, headers = standard_delivery(EVENTS_SECRET, body, msg_id=msg_id)
        first = client.post("/events", data=raw, headers=headers)
        assert first.status_code in (202, 422), (body, first.get_json())
        again = client.post("/events", data=raw, headers=headers)
        assert again.status_code in (200, 422)
        assert again.get_json()["event_id"] == first.get_json()["event_id"]
    assert store.count_events() == len(ODD_EVENTS)
    # Different long ids sharing a prefix are different deliveries.
    raw, headers = standard_delivery(EVENTS_SECRET, {"type": "deploy.started"},
                                     msg_id="m" * 299 + "x")
    assert client.post("/events", data=raw, headers=headers).status_code == 202


def test_odd_but_authentic_values_are_stored_once_on_sqlite(client, store):
    _assert_odd_events_are_stored_once(client, store)


@pytest.mark.postgres
def test_odd_but_authentic_values_are_stored_once_on_postgresql(settings, postgres_url):
    store = Store.from_url(postgres_url)
    try:
        client = make_client(changed(settings, database_url=postgres_url), store)
        _assert_odd_events_are_stored_once(client, store)
    finally:
        store.dispose()


def test_odd_type_is_shown_as_declared_in_the_listing(client, store):
    raw, headers = standard_delivery(EVENTS_SECRET, {"type": 'quote" new\nline é'})
    event_id = client.post("/events", data=raw, headers=headers).get_json()["event_id"]
    assert store.get_event(event_id)["type"] == 'quote" new\nline é'
    assert client.get("/metrics").status_code == 200


# --- worker wake-up -------------------------------------------------------------------


def test_only_new_acted_on_events_wake_the_worker(settings, store):
    woken: list[str] = []
    client = make_client(settings, store, on_stored=woken.append)
    raw, headers = signed("/events", RUN_FINISHED)
    event_id = client.post("/events", data=raw, headers=headers).get_json()["event_id"]
    client.post("/events", data=raw, headers=headers)  # duplicate
    raw, headers = signed("/events", {"type": "deploy.started"})
    client.post("/events", data=raw, headers=headers)  # ignored
    raw, headers = signed("/events", {"type": "run.finished"})
    client.post("/events", data=raw, headers=headers)  # rejected
    assert woken == [event_id]


# --- store outage ---------------------------------------------------------------------


@pytest.fixture
def unreachable_store(tmp_path: Path):
    store = Store.from_url(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'reghook.db'}")
    yield store
    store.dispose()


def test_readyz_is_503_when_the_store_is_unreachable(settings, unreachable_store):
    client = make_client(settings, unreachable_store)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
    assert client.get("/healthz").status_code == 200


def test_readyz_is_503_when_the_store_has_no_schema(settings, tmp_path):
    store = Store.from_url(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert make_client(settings, store).get("/readyz").status_code == 503
    finally:
        store.dispose()


def test_store_outage_answers_503_so_the_sender_retries(settings, unreachable_store):
    client = make_client(settings, unreachable_store)
    raw, headers = signed("/events", RUN_FINISHED)
    response = client.post("/events", data=raw, headers=headers)
    assert response.status_code == 503
    assert response.get_json()["error"] == "unavailable"


def test_healthz_and_readyz_answer_ok(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ok"}


# --- metrics --------------------------------------------------------------------------


def counter(client, **labels: str) -> float:
    """The value of reghook_deliveries_total for exactly these labels (0 if absent)."""
    text = client.get("/metrics").get_data(as_text=True)
    for line in text.splitlines():
        match = re.fullmatch(r"reghook_deliveries_total\{(.*)\} (\S+)", line)
        if match and dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1))) == labels:
            return float(match.group(2))
    return 0.0


def test_metrics_count_deliveries_by_source_type_and_result(client):
    queued = {"source": "mlflow", "type": "model_version.created", "result": "queued"}
    duplicate = dict(queued, result="duplicate")
    forged = {"source": "mlflow", "type": "unknown", "result": "invalid_signature"}
    before = [counter(client, **labels) for labels in (queued, duplicate, forged)]
    raw, headers = signed("/webhooks/mlflow", model_version_created())
    client.post("/webhooks/mlflow", data=raw, headers=headers)
    client.post("/webhooks/mlflow", data=raw, headers=headers)
    raw, headers = _forged("/webhooks/mlflow")
    client.post("/webhooks/mlflow", data=raw, headers=headers)
    after = [counter(client, **labels) for labels in (queued, duplicate, forged)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")


# --- admin API ------------------------------------------------------------------------


def post_event(client, body: dict, *, route: str = "/events") -> str:
    raw, headers = signed(route, body)
    response = client.post(route, data=raw, headers=headers)
    assert response.status_code in (202, 422), response.get_json()
    return response.get_json()["event_id"]


ADMIN_ROUTES = [("GET", "/api/events"), ("GET", "/api/events/evt_x"),
                ("POST", "/api/events/evt_x/replay")]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_api_is_404_when_no_admin_token_is_configured(settings, store, method, path):
    client = make_client(changed(settings, admin_token=None), store)
    assert_error(client.open(path, method=method, headers=ADMIN), 404, "not_found")


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {ADMIN_TOKEN}",
                                           ADMIN_TOKEN, "Bearer", f"Bearer {ADMIN_TOKEN}x",
                                           "Bearer \xff"])
@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_api_without_the_right_bearer_token_is_401(client, method, path, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_error(client.open(path, method=method, headers=headers), 401, "unauthorized")


def test_list_events_is_newest_first_with_the_promised_keys(client):
    ids = [post_event(client, {"type": f"kind.{n}"}) for n in range(3)]
    response = client.get("/api/events", headers=ADMIN)
    assert response.status_code == 200
    listed = response.get_json()["events"]
    assert [e["id"] for e in listed] == ids[::-1]
    for event in listed:
        assert set(event) >= EVENT_KEYS
        assert ISO_UTC.match(event["received_at"])
        assert "body" not in event


def test_list_events_filters_by_status_source_and_type(client):
    queued = post_event(client, RUN_FINISHED)
    ignored = post_event(client, {"type": "deploy.started"})
    rejected = post_event(client, {"type": "run.finished"})
    mlflow = post_event(client, model_version_created(), route="/webhooks/mlflow")

    def listed(query: str) -> list[str]:
        response = client.get(f"/api/events?{query}", headers=ADMIN)
        assert response.status_code == 200
        return [e["id"] for e in response.get_json()["events"]]

    assert set(listed("status=queued")) == {queued, mlflow}
    assert listed("status=ignored") == [ignored]
    assert listed("status=rejected") == [rejected]
    assert listed("source=mlflow") == [mlflow]
    assert set(listed("source=events")) == {queued, ignored, rejected}
    assert listed("type=model_version.created") == [mlflow]
    assert listed("type=run.finished&status=queued") == [queued]
    assert listed("status=done") == []


def test_list_events_since_and_limit(client):
    old = post_event(client, {"type": "kind.old"})
    time.sleep(0.01)
    middle = datetime.now(UTC)
    time.sleep(0.01)
    new = [post_event(client, {"type": f"kind.new{n}"}) for n in range(3)]

    def listed(**query: str) -> list[str]:
        response = client.get("/api/events", query_string=query, headers=ADMIN)
        assert response.status_code == 200
        return [e["id"] for e in response.get_json()["events"]]

    assert listed(since=middle.isoformat().replace("+00:00", "Z")) == new[::-1]
    assert old in listed(since=(middle - timedelta(hours=1)).isoformat())
    assert listed(since=(middle + timedelta(hours=1)).isoformat()) == []
    assert listed(limit="2") == new[:0:-1]


def test_list_events_since_with_a_utc_offset_means_the_same_instant(client):
    post_event(client, {"type": "kind.one"})
    moment = datetime.now(UTC) - timedelta(minutes=5)
    for offset in (5, -5):
        shifted = moment.astimezone(timezone(timedelta(hours=offset))).isoformat()
        response = client.get("/api/events", query_string={"since": shifted}, headers=ADMIN)
        assert len(response.get_json()["events"]) == 1, shifted
    later = (datetime.now(UTC) + timedelta(minutes=5)).astimezone(timezone(timedelta(hours=-5)))
    response = client.get("/api/events", query_string={"since": later.isoformat()}, headers=ADMIN)
    assert response.get_json()["events"] == []


def test_list_events_since_takes_a_duration_back_from_now(client):
    event_id = post_event(client, {"type": "kind.one"})
    for since, expected in (("1h", [event_id]), ("0s", [])):
        response = client.get("/api/events", query_string={"since": since}, headers=ADMIN)
        assert [e["id"] for e in response.get_json()["events"]] == expected, since


@pytest.mark.parametrize("query", [{"limit": "many"}, {"since": "yesterday"},
                                   {"limit": "1" * 5000}, {"since": "\u00b2h"},
                                   {"since": "1" * 5000 + "h"}])
def test_list_events_with_bad_parameters_is_400(client, query):
    assert_error(client.get("/api/events", query_string=query, headers=ADMIN), 400, "bad_request")


def test_show_event_has_body_headers_without_signatures_attempts_and_actions(client):
    raw, headers = mlflow_delivery(MLFLOW_SECRET, model_version_created())
    event_id = client.post("/webhooks/mlflow", data=raw, headers=headers).get_json()["event_id"]
    response = client.get(f"/api/events/{event_id}", headers=ADMIN)
    assert response.status_code == 200
    event = response.get_json()
    assert set(event) >= EVENT_KEYS
    assert (event["id"], event["source"], event["type"], event["status"]) == (
        event_id, "mlflow", "model_version.created", "queued")
    assert event["idempotency_key"] == headers["X-MLflow-Delivery-Id"]
    assert event["attempts"] == 0
    assert event["body"] == raw.decode()
    shown = {k.lower(): v for k, v in event["headers"].items()}
    assert shown["x-mlflow-delivery-id"] == headers["X-MLflow-Delivery-Id"]
    assert shown["content-type"] == "application/json"
    assert "x-mlflow-signature" not in shown
    assert event["attempt_log"] == []
    assert event["actions"] == []


def test_show_unknown_event_is_404(client):
    assert_error(client.get("/api/events/evt_nope", headers=ADMIN), 404, "not_found")


def test_replay_queues_a_copy_pointing_at_the_original(settings, store):
    woken: list[str] = []
    client = make_client(settings, store, on_stored=woken.append)
    original = post_event(client, {"type": "deploy.started"})
    response = client.post(f"/api/events/{original}/replay", headers=ADMIN)
    assert response.status_code == 202
    answer = response.get_json()
    assert answer["replay_of"] == original
    assert answer["event_id"] != original
    copy = store.get_event(answer["event_id"])
    assert (copy["source"], copy["status"], copy["replay_of"], copy["type"]) == (
        "replay", "queued", original, "deploy.started")
    assert copy["body"] == store.get_event(original)["body"]
    assert woken == [answer["event_id"]]
    # Replaying a replay still points at the original delivery.
    again = client.post(f"/api/events/{answer['event_id']}/replay", headers=ADMIN).get_json()
    assert again["replay_of"] == answer["event_id"]
    assert store.get_event(again["event_id"])["replay_of"] == original
    # Each replay is its own event; the original is kept as it was.
    assert store.get_event(original)["status"] == "ignored"
    assert store.count_events() == 3


def test_replay_of_unknown_event_is_404(client, store):
    assert_error(client.post("/api/events/evt_nope/replay", headers=ADMIN), 404, "not_found")
    assert store.count_events() == 0


def test_the_web_app_built_by_the_composition_root_uses_the_configured_database(settings, tmp_path):
    url = f"sqlite:///{tmp_path / 'own.db'}"
    upgrade(url)
    client = build_web(changed(settings, database_url=url)).test_client()
    raw, headers = signed("/events", RUN_FINISHED)
    assert client.post("/events", data=raw, headers=headers).status_code == 202
    assert len(client.get("/api/events", headers=ADMIN).get_json()["events"]) == 1
