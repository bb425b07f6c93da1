"""Parsing verified deliveries into :class:`handler.events.Intake` (docs/routes.md "Event types")."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from handler import events
from handler.errors import InvalidPayload, MalformedJson

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CAPTURED = [json.loads(line) for line in
            (FIXTURES / "mlflow_deliveries.jsonl").read_text().splitlines() if line.strip()]


def mlflow_body(entity: str, action: str, data: object) -> bytes:
    return json.dumps({"entity": entity, "action": action,
                       "timestamp": "2026-11-26T20:55:05.529848+00:00", "data": data}).encode()


def error_locs(exc: InvalidPayload) -> set[str]:
    return {error["loc"] for error in exc.extra["errors"]}


# --- MLflow ---------------------------------------------------------------------------

MLFLOW_ACTED = {
    "registered_model.created": {"name": "m", "tags": {}, "description": ""},
    "model_version.created": {"name": "m", "version": "1", "source": "models:/m-0123",
                              "run_id": "02ad50577ae84b118e8ff9bee7d9711f", "tags": {},
                              "description": None},
    "model_version_tag.set": {"name": "m", "version": "1", "key": "approval", "value": "approved"},
    "model_version_alias.created": {"name": "m", "alias": "champion", "version": "1"},
    "model_version_alias.deleted": {"name": "m", "alias": "champion"},
}


@pytest.mark.parametrize("delivery", CAPTURED,
                         ids=lambda d: d["headers"]["X-Mlflow-Delivery-Id"][:8])
def test_captured_mlflow_delivery_parses_to_its_type_keyed_by_delivery_id(delivery):
    body = json.loads(delivery["body"])
    delivery_id = delivery["headers"]["X-Mlflow-Delivery-Id"]
    parsed = events.parse_mlflow(delivery["body"].encode(), delivery_id)
    assert parsed.source == "mlflow"
    assert parsed.type == f"{body['entity']}.{body['action']}"
    assert parsed.idempotency_key == delivery_id
    assert parsed.acted_on is True
    assert parsed.initial_status == "queued"


@pytest.mark.parametrize("event_type", sorted(MLFLOW_ACTED))
def test_mlflow_event_types_reghook_acts_on_are_queued(event_type):
    entity, action = event_type.split(".")
    parsed = events.parse_mlflow(mlflow_body(entity, action, MLFLOW_ACTED[event_type]), "d-1")
    assert (parsed.type, parsed.acted_on, parsed.initial_status) == (event_type, True, "queued")


@pytest.mark.parametrize("event_type", [
    "prompt.created", "prompt_version.created", "prompt_alias.deleted",
    "budget_policy.exceeded", "model_version_tag.deleted", "something_new.happened",
])
def test_mlflow_other_event_types_are_ignored_not_errors(event_type):
    entity, action = event_type.split(".")
    parsed = events.parse_mlflow(mlflow_body(entity, action, {"anything": ["goes", 1]}), "d-2")
    assert (parsed.type, parsed.acted_on, parsed.initial_status) == (event_type, False, "ignored")


def test_mlflow_model_version_created_with_null_run_id_is_accepted():
    data = dict(MLFLOW_ACTED["model_version.created"], run_id=None)
    assert events.parse_mlflow(mlflow_body("model_version", "created", data), "d").acted_on


def test_mlflow_version_given_as_a_number_becomes_a_string():
    data = dict(MLFLOW_ACTED["model_version.created"], version=3)
    parsed = events.parse_mlflow(mlflow_body("model_version", "created", data), "d")
    assert parsed.payload["data"]["version"] == "3"


def test_mlflow_unknown_fields_are_kept():
    data = dict(MLFLOW_ACTED["model_version_alias.created"], workspace_hint="w")
    body = json.loads(mlflow_body("model_version_alias", "created", data))
    body["workspace"] = "default"
    parsed = events.parse_mlflow(json.dumps(body).encode(), "d")
    assert parsed.payload["workspace"] == "default"
    assert parsed.payload["data"]["workspace_hint"] == "w"


@pytest.mark.parametrize(("event_type", "data", "loc"), [
    ("model_version.created", {"version": "1"}, "data.name"),
    ("model_version.created", {"name": "m"}, "data.version"),
    ("model_version.created", {"name": "", "version": "1"}, "data.name"),
    ("model_version.created", {"name": "m", "version": "1", "tags": ["x"]}, "data.tags"),
    ("model_version_tag.set", {"name": "m", "version": "1"}, "data.key"),
    ("model_version_alias.created", {"name": "m", "version": "1"}, "data.alias"),
    ("model_version_alias.deleted", {"name": "m"}, "data.alias"),
    ("registered_model.created", {"tags": {}}, "data.name"),
    ("model_version_alias.created", {"name": ["m"], "alias": "a", "version": "1"}, "data.name"),
])
def test_mlflow_acted_on_payload_of_the_wrong_shape_is_invalid_with_errors(event_type, data, loc):
    entity, action = event_type.split(".")
    with pytest.raises(InvalidPayload) as caught:
        events.parse_mlflow(mlflow_body(entity, action, data), "d")
    assert loc in error_locs(caught.value)
    assert all(set(error) == {"loc", "msg"} for error in caught.value.extra["errors"])
    assert caught.value.to_json()["error"] == "invalid_payload"


@pytest.mark.parametrize(("body", "loc"), [
    ({"action": "created", "data": {}}, "entity"),
    ({"entity": "model_version", "data": {}}, "action"),
    ({"entity": "", "action": "created"}, "entity"),
    ({"entity": 5, "action": "created"}, "entity"),
    ({"entity": "model_version", "action": "created", "data": "x"}, "data"),
])
def test_mlflow_envelope_of_the_wrong_shape_is_invalid(body, loc):
    with pytest.raises(InvalidPayload) as caught:
        events.parse_mlflow(json.dumps(body).encode(), "d")
    assert loc in error_locs(caught.value)


@pytest.mark.parametrize("body", [b"[]", b"1", b'"text"', b"null", b"true"])
def test_json_that_is_not_an_object_is_invalid_payload(body):
    for parse in (lambda b: events.parse_mlflow(b, "d"), events.parse_databricks,
                  events.parse_databricks_job, lambda b: events.parse_standard_event(b, "m")):
        with pytest.raises(InvalidPayload):
            parse(body)


@pytest.mark.parametrize("body", [b"", b"{", b"not json", b"{'single': 'quotes'}",
                                  b"\xff\xfe{}", b'{"a": "\xc3"}', b"NaN x"])
def test_malformed_or_non_utf8_body_is_malformed_json(body):
    for parse in (lambda b: events.parse_mlflow(b, "d"), events.parse_databricks,
                  events.parse_databricks_job, lambda b: events.parse_standard_event(b, "m")):
        with pytest.raises(MalformedJson):
            parse(body)


# --- Databricks registry --------------------------------------------------------------

TRANSITIONED = {"event": "MODEL_VERSION_TRANSITIONED_STAGE",
                "webhook_id": "c5596721253c4b429368cf6f4341b88a",
                "event_timestamp": 1589859029343, "model_name": "Airline_Delay_SparkML",
                "version": "8", "to_stage": "Production", "from_stage": "None", "text": "..."}
TAG_SET = {"event": "MODEL_VERSION_TAG_SET", "webhook_id": "8d7fc634e624474f9bbfde960fdf354c",
           "event_timestamp": 1589859029343, "model_name": "Airline_Delay_SparkML", "version": "8",
           "tags": [{"key": "key1", "value": "value1"}], "text": "..."}
COMMENT = {"event": "COMMENT_CREATED", "webhook_id": "w1", "event_timestamp": 1589859029343,
           "model_name": "m", "version": "8", "comment": "looks good", "text": "..."}


def dbx(payload: dict) -> events.Intake:
    return events.parse_databricks(json.dumps(payload).encode())


@pytest.mark.parametrize("payload", [TRANSITIONED, TAG_SET, COMMENT], ids=lambda p: p["event"])
def test_databricks_documented_examples_are_acted_on(payload):
    parsed = dbx(payload)
    assert (parsed.source, parsed.type, parsed.acted_on) == ("databricks", payload["event"], True)


@pytest.mark.parametrize("event", [
    "MODEL_VERSION_CREATED", "TRANSITION_REQUEST_CREATED", "MODEL_VERSION_TRANSITIONED_STAGE",
    "MODEL_VERSION_TAG_SET", "COMMENT_CREATED",
    "TRANSITION_REQUEST_TO_STAGING_CREATED", "TRANSITION_REQUEST_TO_PRODUCTION_CREATED",
    "TRANSITION_REQUEST_TO_ARCHIVED_CREATED", "MODEL_VERSION_TRANSITIONED_TO_STAGING",
    "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION", "MODEL_VERSION_TRANSITIONED_TO_ARCHIVED",
])
def test_databricks_version_events_and_their_to_stage_variants_are_acted_on(event):
    parsed = dbx({"event": event, "webhook_id": "w", "event_timestamp": 1, "model_name": "m",
                  "version": "1", "to_stage": "Staging", "text": "t"})
    assert parsed.type == event
    assert parsed.acted_on
    assert parsed.initial_status == "queued"


@pytest.mark.parametrize(("event", "kind"), [
    ("TRANSITION_REQUEST_TO_STAGING_CREATED", "TRANSITION_REQUEST_CREATED"),
    ("TRANSITION_REQUEST_TO_PRODUCTION_CREATED", "TRANSITION_REQUEST_CREATED"),
    ("MODEL_VERSION_TRANSITIONED_TO_ARCHIVED", "MODEL_VERSION_TRANSITIONED_STAGE"),
    ("MODEL_VERSION_CREATED", "MODEL_VERSION_CREATED"),
    ("REGISTERED_MODEL_CREATED", "REGISTERED_MODEL_CREATED"),
    ("MODEL_VERSION_DELETED", None),
    ("REGISTRY_WEBHOOK_TEST", None),
])
def test_databricks_event_kind_folds_to_stage_variants(event, kind):
    assert events.databricks_event_kind(event) == kind


def test_databricks_registered_model_created_needs_no_version():
    parsed = dbx({"event": "REGISTERED_MODEL_CREATED", "webhook_id": "w",
                  "event_timestamp": 1, "model_name": "m", "text": "t"})
    assert parsed.acted_on


@pytest.mark.parametrize("event", ["MODEL_VERSION_DELETED", "SOMETHING_NEW",
                                   "REGISTRY_WEBHOOK_TEST"])
def test_databricks_unknown_events_are_ignored(event):
    parsed = dbx({"event": event, "event_timestamp": 1})
    assert (parsed.type, parsed.acted_on, parsed.initial_status) == (event, False, "ignored")


def test_databricks_idempotency_key_is_sha256_of_the_five_fields():
    expected = hashlib.sha256("\x1f".join(
        ["c5596721253c4b429368cf6f4341b88a", "MODEL_VERSION_TRANSITIONED_STAGE",
         "Airline_Delay_SparkML", "8", "1589859029343"]).encode()).hexdigest()
    assert dbx(TRANSITIONED).idempotency_key == expected


def test_databricks_version_given_as_a_number_keys_and_reads_as_a_string():
    as_number = dbx(dict(TRANSITIONED, version=8))
    assert as_number.idempotency_key == dbx(TRANSITIONED).idempotency_key
    assert as_number.payload["version"] == "8"


def test_databricks_key_changes_with_each_identifying_field():
    base = dbx(TRANSITIONED).idempotency_key
    for field, value in [("webhook_id", "other"),
                         ("event", "MODEL_VERSION_TRANSITIONED_TO_STAGING"),
                         ("model_name", "other"), ("version", "9"),
                         ("event_timestamp", 1589859029344)]:
        assert dbx(dict(TRANSITIONED, **{field: value})).idempotency_key != base, field


def test_databricks_key_ignores_fields_outside_the_five():
    assert (dbx(dict(TRANSITIONED, text="other text")).idempotency_key
            == dbx(TRANSITIONED).idempotency_key)


def test_databricks_unknown_fields_are_accepted():
    assert dbx(dict(TRANSITIONED, brand_new_field={"x": 1})).acted_on


@pytest.mark.parametrize(("payload", "loc"), [
    ({k: v for k, v in TRANSITIONED.items() if k != "event_timestamp"}, "event_timestamp"),
    (dict(TRANSITIONED, event_timestamp="yesterday"), "event_timestamp"),
    ({k: v for k, v in TRANSITIONED.items() if k != "event"}, "event"),
    ({k: v for k, v in TRANSITIONED.items() if k != "version"}, "version"),
    ({k: v for k, v in TRANSITIONED.items() if k != "model_name"}, "model_name"),
    (dict(TRANSITIONED, model_name=""), "model_name"),
])
def test_databricks_payload_of_the_wrong_shape_is_invalid(payload, loc):
    with pytest.raises(InvalidPayload) as caught:
        dbx(payload)
    assert loc in error_locs(caught.value)


# --- Databricks jobs ------------------------------------------------------------------

JOB_SUCCESS = {"event_type": "jobs.on_success", "workspace_id": "1234",
               "run": {"run_id": "5678"}, "job": {"job_id": "91", "name": "train churn"}}


def jobs(payload: dict) -> events.Intake:
    return events.parse_databricks_job(json.dumps(payload).encode())


def test_job_success_is_acted_on_keyed_by_job_run_and_event():
    parsed = jobs(JOB_SUCCESS)
    assert (parsed.source, parsed.type, parsed.acted_on) == (
        "databricks_jobs", "jobs.on_success", True)
    assert parsed.idempotency_key == "91:5678:jobs.on_success"


def test_job_failure_is_acted_on():
    assert jobs(dict(JOB_SUCCESS, event_type="jobs.on_failure")).acted_on


@pytest.mark.parametrize("event_type", ["jobs.on_start",
                                        "jobs.on_duration_warning_threshold_exceeded",
                                        "jobs.on_streaming_backlog_exceeded"])
def test_other_job_notifications_are_ignored(event_type):
    parsed = jobs(dict(JOB_SUCCESS, event_type=event_type))
    assert (parsed.acted_on, parsed.initial_status) == (False, "ignored")


def test_job_ids_given_as_numbers_become_strings():
    parsed = jobs({"event_type": "jobs.on_success", "workspace_id": 1234,
                   "run": {"run_id": 5678, "parent_run_id": 5000}, "job": {"job_id": 91}})
    assert parsed.idempotency_key == "91:5678:jobs.on_success"
    assert parsed.idempotency_key == jobs(JOB_SUCCESS).idempotency_key
    assert parsed.payload["run"] == {"run_id": "5678", "parent_run_id": "5000"}
    assert parsed.payload["job"]["job_id"] == "91"
    assert parsed.payload["workspace_id"] == "1234"


def test_task_level_job_notification_is_accepted():
    payload = dict(JOB_SUCCESS, task={"task_key": "train"},
                   run={"run_id": "5679", "parent_run_id": "5678"})
    assert jobs(payload).idempotency_key == "91:5679:jobs.on_success"


@pytest.mark.parametrize(("payload", "loc"), [
    ({k: v for k, v in JOB_SUCCESS.items() if k != "run"}, "run"),
    ({k: v for k, v in JOB_SUCCESS.items() if k != "job"}, "job"),
    (dict(JOB_SUCCESS, run={}), "run.run_id"),
    (dict(JOB_SUCCESS, run={"run_id": ""}), "run.run_id"),
    (dict(JOB_SUCCESS, job={"job_id": None}), "job.job_id"),
    ({k: v for k, v in JOB_SUCCESS.items() if k != "event_type"}, "event_type"),
])
def test_job_notification_of_the_wrong_shape_is_invalid(payload, loc):
    with pytest.raises(InvalidPayload) as caught:
        jobs(payload)
    assert loc in error_locs(caught.value)


# --- /events --------------------------------------------------------------------------


def standard(payload: dict, msg_id: str = "msg_1") -> events.Intake:
    return events.parse_standard_event(json.dumps(payload).encode(), msg_id)


def test_run_finished_is_acted_on_keyed_by_webhook_id():
    parsed = standard({"type": "run.finished", "run_id": "02ad50577ae84b118e8ff9bee7d9711f",
                       "model": "workspace.default.churn"}, "msg_abc")
    assert (parsed.source, parsed.type, parsed.idempotency_key) == (
        "events", "run.finished", "msg_abc")
    assert parsed.acted_on
    assert parsed.payload["model"] == "workspace.default.churn"


def test_run_finished_model_is_optional():
    assert standard({"type": "run.finished", "run_id": "abc"}).acted_on


@pytest.mark.parametrize("event_type", ["deploy.started", "run.started", "RUN.FINISHED"])
def test_other_event_types_are_ignored(event_type):
    parsed = standard({"type": event_type, "whatever": [1, 2]})
    assert (parsed.acted_on, parsed.initial_status) == (False, "ignored")


@pytest.mark.parametrize(("payload", "loc"), [
    ({"type": "run.finished"}, "run_id"),
    ({"type": "run.finished", "run_id": ""}, "run_id"),
    ({"type": "run.finished", "run_id": "abc' OR name='x"}, "run_id"),
    ({"type": "run.finished", "run_id": "a" * 65}, "run_id"),
    ({"type": "run.finished", "run_id": "abc", "model": ""}, "model"),
    ({"type": "run.finished", "run_id": ["abc"]}, "run_id"),
    ({"run_id": "abc"}, "type"),
    ({"type": ""}, "type"),
    ({"type": 7}, "type"),
])
def test_event_of_the_wrong_shape_is_invalid(payload, loc):
    with pytest.raises(InvalidPayload) as caught:
        standard(payload)
    assert loc in error_locs(caught.value)
