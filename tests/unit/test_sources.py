"""Each sender described by :mod:`handler.sources`: switch, verifier, parser and keys, on plain values."""

from __future__ import annotations

import hashlib
import json

import pytest

from handler.errors import (
    InvalidPayload,
    InvalidSignature,
    MissingSignature,
    StaleTimestamp,
    Unauthorized,
)
from handler.settings import Settings
from handler.sources import SOURCES, check_databricks_age
from tests.support.web import basic_auth, databricks_delivery, mlflow_delivery, standard_delivery

NOW = 1_780_000_000
MLFLOW_SECRET = "s3cret"
DBX_SECRET = "dbx-secret"
EVENTS_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ALL_ON = Settings(
    mlflow_secrets=MLFLOW_SECRET, databricks_secrets=DBX_SECRET, databricks_jobs_user="jobs",
    databricks_jobs_password="pw", events_secrets=EVENTS_SECRET, databricks_max_age_s=300,
)
ALL_OFF = Settings()


def test_there_is_one_source_per_route_and_names_match_their_keys():
    assert {name: s.path for name, s in SOURCES.items()} == {
        "mlflow": "/webhooks/mlflow", "databricks": "/webhooks/databricks",
        "databricks_jobs": "/webhooks/databricks-jobs", "events": "/events"}
    assert all(name == source.name for name, source in SOURCES.items())


@pytest.mark.parametrize("name", list(SOURCES))
def test_a_source_is_enabled_only_by_its_own_secret(name):
    assert SOURCES[name].enabled(ALL_ON)
    assert not SOURCES[name].enabled(ALL_OFF)


def test_databricks_jobs_needs_both_user_and_password():
    jobs = SOURCES["databricks_jobs"]
    assert not jobs.enabled(Settings(databricks_jobs_user="jobs"))
    assert not jobs.enabled(Settings(databricks_jobs_password="pw"))


def test_blank_secrets_leave_a_source_disabled():
    assert not SOURCES["mlflow"].enabled(Settings(mlflow_secrets=" , "))


# --- MLflow -----------------------------------------------------------------------------

MLFLOW_BODY = {"entity": "model_version", "action": "created",
               "data": {"name": "m", "version": 3, "source": "models:/m-1", "run_id": "r"}}


def test_mlflow_verifies_parses_and_keys_by_delivery_id():
    mlflow = SOURCES["mlflow"]
    body, headers = mlflow_delivery(MLFLOW_SECRET, MLFLOW_BODY, delivery_id="d-1", timestamp=NOW)
    mlflow.verify(body, headers, ALL_ON, NOW)
    parsed = mlflow.parse(body, headers)
    assert (parsed.source, parsed.type, parsed.idempotency_key, parsed.acted_on) == (
        "mlflow", "model_version.created", "d-1", True)
    assert parsed.payload["data"]["version"] == "3"


def test_mlflow_refuses_a_wrong_secret_a_missing_header_and_an_old_timestamp():
    mlflow = SOURCES["mlflow"]
    body, headers = mlflow_delivery("other", MLFLOW_BODY, timestamp=NOW)
    with pytest.raises(InvalidSignature):
        mlflow.verify(body, headers, ALL_ON, NOW)
    with pytest.raises(MissingSignature):
        mlflow.verify(body, {"X-MLflow-Delivery-Id": "d"}, ALL_ON, NOW)
    body, headers = mlflow_delivery(MLFLOW_SECRET, MLFLOW_BODY, timestamp=NOW - 301)
    with pytest.raises(StaleTimestamp):
        mlflow.verify(body, headers, ALL_ON, NOW)


def test_mlflow_rejected_payload_is_named_entity_action_and_keyed_by_delivery_id():
    mlflow = SOURCES["mlflow"]
    body = json.dumps({"entity": "model_version", "action": "created", "data": {}}).encode()
    with pytest.raises(InvalidPayload):
        mlflow.parse(body, {"X-MLflow-Delivery-Id": "d-2"})
    assert mlflow.declared_type(body) == "model_version.created"
    assert mlflow.declared_type(b'{"entity": 1, "action": "x"}') == "unknown"
    assert mlflow.fallback_key(body, {"X-MLflow-Delivery-Id": "d-2"}) == "d-2"
    assert mlflow.fallback_key(body, {}) == "sha256:" + hashlib.sha256(body).hexdigest()


# --- Databricks ----------------------------------------------------------------------------


def dbx_body(**fields: object) -> dict:
    return {"event": "MODEL_VERSION_CREATED", "webhook_id": "w1", "event_timestamp": NOW * 1000,
            "model_name": "m", "version": "1", **fields}


def test_databricks_verifies_the_body_hmac_and_keys_by_content():
    dbx = SOURCES["databricks"]
    body, headers = databricks_delivery(DBX_SECRET, dbx_body())
    dbx.verify(body, headers, ALL_ON, NOW)
    parsed = dbx.parse(body, headers)
    assert (parsed.source, parsed.type, parsed.acted_on) == ("databricks", "MODEL_VERSION_CREATED", True)
    assert parsed.idempotency_key == dbx.parse(body, {}).idempotency_key
    assert parsed.idempotency_key != dbx.parse(json.dumps(dbx_body(version="2")).encode(),
                                               {}).idempotency_key
    with pytest.raises(InvalidSignature):
        dbx.verify(body, {**headers, "X-Databricks-Signature": "00"}, ALL_ON, NOW)


def test_databricks_checks_the_configured_authorization_header():
    dbx = SOURCES["databricks"]
    settings = ALL_ON.model_copy(update={"databricks_authorization": ALL_ON.mlflow_secrets})
    body, headers = databricks_delivery(DBX_SECRET, dbx_body())
    with pytest.raises(Unauthorized):
        dbx.verify(body, headers, settings, NOW)
    dbx.verify(body, {**headers, "Authorization": MLFLOW_SECRET}, settings, NOW)


def test_databricks_age_is_checked_after_parsing_in_integer_milliseconds():
    dbx = SOURCES["databricks"]
    assert dbx.check_age is check_databricks_age
    fresh = dbx.parse(json.dumps(dbx_body(event_timestamp=(NOW - 300) * 1000)).encode(), {})
    check_databricks_age(fresh, ALL_ON, NOW)
    stale = dbx.parse(json.dumps(dbx_body(event_timestamp=(NOW - 300) * 1000 - 1)).encode(), {})
    with pytest.raises(StaleTimestamp):
        check_databricks_age(stale, ALL_ON, NOW)
    # Far in the past or future, beyond any float: an answer, not an overflow.
    ancient = dbx.parse(json.dumps(dbx_body(event_timestamp=-(10**400))).encode(), {})
    with pytest.raises(StaleTimestamp):
        check_databricks_age(ancient, ALL_ON, NOW)
    future = dbx.parse(json.dumps(dbx_body(event_timestamp=10**400)).encode(), {})
    with pytest.raises(StaleTimestamp):
        check_databricks_age(future, ALL_ON, NOW)
    skewed = dbx.parse(json.dumps(dbx_body(event_timestamp=(NOW + 300) * 1000)).encode(), {})
    check_databricks_age(skewed, ALL_ON, NOW)


def test_databricks_rejected_payload_is_named_by_its_event_and_keyed_by_body_hash():
    dbx = SOURCES["databricks"]
    body = json.dumps(dbx_body(model_name=None)).encode()
    with pytest.raises(InvalidPayload):
        dbx.parse(body, {})
    assert dbx.declared_type(body) == "MODEL_VERSION_CREATED"
    assert dbx.declared_type(json.dumps({"event": "X" * 500}).encode()) == "X" * 120
    assert dbx.fallback_key(body, {"X-MLflow-Delivery-Id": "ignored"}) == (
        "sha256:" + hashlib.sha256(body).hexdigest())


# --- Databricks job notifications ---------------------------------------------------------------

JOB = {"event_type": "jobs.on_success", "run": {"run_id": 7}, "job": {"job_id": 9}}


def test_databricks_jobs_needs_basic_auth_and_keys_by_job_run_and_event():
    jobs = SOURCES["databricks_jobs"]
    body = json.dumps(JOB).encode()
    jobs.verify(body, {"Authorization": basic_auth("jobs", "pw")}, ALL_ON, NOW)
    with pytest.raises(Unauthorized):
        jobs.verify(body, {"Authorization": basic_auth("jobs", "wrong")}, ALL_ON, NOW)
    parsed = jobs.parse(body, {})
    assert (parsed.type, parsed.idempotency_key, parsed.acted_on) == (
        "jobs.on_success", "9:7:jobs.on_success", True)
    assert not jobs.parse(json.dumps({**JOB, "event_type": "jobs.on_start"}).encode(), {}).acted_on


def test_databricks_jobs_rejected_payload_is_named_by_event_type():
    jobs = SOURCES["databricks_jobs"]
    body = json.dumps({"event_type": "jobs.on_failure"}).encode()
    with pytest.raises(InvalidPayload):
        jobs.parse(body, {})
    assert jobs.declared_type(body) == "jobs.on_failure"


# --- /events ----------------------------------------------------------------------------------


def test_events_verifies_standard_webhooks_and_keys_by_message_id():
    source = SOURCES["events"]
    body, headers = standard_delivery(EVENTS_SECRET, {"type": "run.finished", "run_id": "r1"},
                                      msg_id="msg_1", timestamp=NOW)
    source.verify(body, headers, ALL_ON, NOW)
    parsed = source.parse(body, headers)
    assert (parsed.source, parsed.type, parsed.idempotency_key, parsed.acted_on) == (
        "events", "run.finished", "msg_1", True)
    with pytest.raises(StaleTimestamp):
        source.verify(body, headers, ALL_ON, NOW + 301)


def test_events_rejected_payload_keeps_its_type_and_message_id():
    source = SOURCES["events"]
    body = json.dumps({"type": "run.finished"}).encode()
    with pytest.raises(InvalidPayload):
        source.parse(body, {"webhook-id": "msg_2"})
    assert source.declared_type(body) == "run.finished"
    assert source.fallback_key(body, {"webhook-id": "msg_2"}) == "msg_2"


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"type": 5}', b'{"type": ""}', b"\xff"])
@pytest.mark.parametrize("name", list(SOURCES))
def test_a_rejected_body_of_any_shape_is_named_unknown(name, body):
    assert SOURCES[name].declared_type(body) == "unknown"
