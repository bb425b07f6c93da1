"""Databricks Workspace Model Registry (stages): transition requests decided by the gates.

The MLflow side is the real mlflow server (versions, runs, tags); only the
Databricks REST API is faked, at the HTTP boundary, by
:mod:`tests.support.databricks`. Events are stored as the intake stores them
and processed by reghook's own worker thread.

Idempotency (decided here): whether a request still needs a decision is
asked of Databricks — its open transition requests — rather than of
reghook's ledger. A replay, a second subscription's copy of the same
request, or a person deciding first all find nothing open and do nothing;
a *new* request for the same stage is decided again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import mlflow
import pytest

from handler.databricks import DatabricksWorkspace
from handler.errors import PermanentError, TransientError
from tests.support.churn import LoggedRun, log_churn_run
from tests.support.databricks import (
    FakeWorkspace,
    databricks_env,
    fake_workspace,
    not_found,
    queue_event,
    registry_event,
    replay,
    settled,
)
from tests.support.harness import policy_yaml, running_reghook

pytestmark = pytest.mark.mlflow


@dataclass
class World:
    """One reghook over the real mlflow server, a passing and a failing run, both governed."""

    reghook: Any
    client: mlflow.MlflowClient
    model: str
    good: LoggedRun
    bad: LoggedRun

    def new_version(self, run: LoggedRun) -> str:
        """A version registered by someone else in the workspace, from ``run``'s model."""
        governed = next(v for v in self.client.search_model_versions(f"run_id = '{run.run_id}'")
                        if v.name == self.model)
        model_id = governed.source.removeprefix("models:/")  # MLflow 3: a logged model
        created = self.client.create_model_version(self.model, governed.source, run.run_id,
                                                   model_id=model_id)
        return str(created.version)

    def transition_request(self, version: str, stage: str = "Staging",
                           event: str = "TRANSITION_REQUEST_CREATED") -> dict[str, Any]:
        """Store a transition request event, wait for it, return the stored event."""
        fields = {} if "_TO_" in event else {"to_stage": stage, "from_stage": "None"}
        return self.send(event, version, **fields)

    def send(self, event: str, version: str | None, **fields: Any) -> dict[str, Any]:
        """Store a Databricks registry event, wait until it settles, return it."""
        event_id = queue_event(self.reghook, "databricks", event,
                               registry_event(event, self.model, version, **fields))
        return settled(self.reghook, event_id)

    def outbox(self, event_id: str) -> list[str]:
        """Outcomes queued for notification by one event."""
        return [m["outcome"] for m in self.reghook.store.list_outbox(event_id=event_id)]


def kinds(event: dict[str, Any]) -> list[str]:
    """The decisions an event caused, by kind (sent notifications are audited too: left out)."""
    return [a["kind"] for a in decisions(event)]


def decisions(event: dict[str, Any]) -> list[dict[str, Any]]:
    """An event's audit entries other than ``notified`` (the outbox sends in the background)."""
    return [a for a in event["actions"] if a["kind"] != "notified"]


@pytest.fixture(scope="module")
def world(mlflow_server, tmp_path_factory) -> Iterator[World]:
    model = f"churn_dbx_{uuid.uuid4().hex[:8]}"
    experiment = f"/Shared/dbx_registry_{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as mp, running_reghook(
            tmp_path_factory.mktemp("dbx-registry"), mlflow_server.url,
            policy_yaml(model, experiment), monkeypatch=mp, webhook=False) as reghook:
        good = log_churn_run(mlflow_server.url, experiment, good=True, seed=7)
        bad = log_churn_run(mlflow_server.url, experiment, good=False, seed=8)
        for run in (good, bad):
            event_id = queue_event(reghook, "events", "run.finished",
                                   {"type": "run.finished", "run_id": run.run_id})
            assert settled(reghook, event_id)["status"] == "done"
        yield World(reghook, mlflow.MlflowClient(mlflow_server.url), model, good, bad)


@pytest.fixture
def workspace(world, mlflow_server, monkeypatch) -> Iterator[FakeWorkspace]:
    """The fake workspace; reghook builds its Databricks client lazily from the environment."""
    databricks_env(monkeypatch)
    world.reghook.context.workspace = None
    with fake_workspace(mlflow_server.url) as fake:
        yield fake
    world.reghook.context.workspace = None


def test_passing_version_transition_request_is_approved_with_the_gates_in_the_comment(
        world, workspace):
    version = world.new_version(world.good)
    workspace.request_transition(world.model, version, "Staging")

    event = world.transition_request(version, "Staging")

    assert event["status"] == "done", event
    [approval] = workspace.approvals()
    assert approval == {"archive_existing_versions": False, "comment": approval["comment"],
                        "name": world.model, "stage": "Staging", "version": version}
    assert approval["comment"].startswith(f"reghook: v{version} passed the gates: recall ")
    assert workspace.rejections() == []
    assert workspace.authorizations == {"Bearer dapi-test"}
    tags = world.client.get_model_version(world.model, version).tags
    assert tags["reghook.status"] == "passed" and approval["comment"].endswith(tags["reghook.gates"])
    assert {"validated", "transition_approved"} <= set(kinds(event))
    assert "transition_approved" in world.outbox(event["id"])


def test_failing_version_transition_request_is_rejected_naming_each_failed_gate(world, workspace):
    version = world.new_version(world.bad)
    workspace.request_transition(world.model, version, "Production")

    # The stage comes from the event name when the body has no to_stage.
    event = world.transition_request(version, event="TRANSITION_REQUEST_TO_PRODUCTION_CREATED")

    assert event["status"] == "done", event
    assert workspace.approvals() == []
    [rejection] = workspace.rejections()
    assert rejection["stage"] == "Production" and rejection["version"] == version
    assert "archive_existing_versions" not in rejection
    assert f"recall: observed {world.bad.recall:.4g}, expected >=0.7" in rejection["comment"]
    tags = world.client.get_model_version(world.model, version).tags
    assert tags["reghook.status"] == "failed"
    failed = [c.split(" ")[0] for c in tags["reghook.gates"].split("; ") if c.endswith("FAIL")]
    total = len(tags["reghook.gates"].split("; "))
    assert f"failed {len(failed)} of {total} gate(s)" in rejection["comment"]
    for gate in failed:
        assert f"{gate}: observed " in rejection["comment"], (gate, rejection["comment"])
    assert "transition_rejected" in kinds(event)
    assert "transition_rejected" in world.outbox(event["id"])


def test_replayed_or_redelivered_request_is_decided_once_and_a_new_request_again(
        world, workspace):
    version = world.new_version(world.good)
    workspace.request_transition(world.model, version, "Staging")
    first = world.transition_request(version)
    assert first["status"] == "done"

    replayed = settled(world.reghook, replay(world.reghook, first["id"]))
    second_subscription = world.transition_request(
        version, event="TRANSITION_REQUEST_TO_STAGING_CREATED")

    for event in (replayed, second_subscription):
        assert event["status"] == "ignored", event
        assert "decided already" in event["reason"]
        assert "transition_approved" not in kinds(event)
    assert len(workspace.approvals()) == 1

    workspace.request_transition(world.model, version, "Staging")  # asked again later
    assert world.transition_request(version)["status"] == "done"
    assert len(workspace.approvals()) == 2


def test_databricks_server_error_retries_the_event_until_approved(world, workspace):
    version = world.new_version(world.good)
    workspace.request_transition(world.model, version, "Staging")
    workspace.failures["approve"] = [(500, {"error_code": "INTERNAL_ERROR",
                                            "message": "the registry is down"})]

    event = world.transition_request(version)

    assert event["status"] == "done", event
    assert event["attempts"] == 2
    assert "INTERNAL_ERROR" in event["attempt_log"][0]["error"]
    assert len(workspace.approvals()) == 1


def test_request_that_no_longer_exists_is_done_without_error(world, workspace):
    version = world.new_version(world.good)
    workspace.request_transition(world.model, version, "Staging")
    # Someone decides it between reghook's look and its approval.
    workspace.failures["approve"] = [not_found("Transition request does not exist.")]

    event = world.transition_request(version)

    assert event["status"] == "done", event
    assert event["attempts"] == 1
    assert "no longer exists" in event["reason"]
    assert "skipped" in kinds(event) and "transition_approved" not in kinds(event)
    assert "transition_approved" not in world.outbox(event["id"])


def test_stage_transition_is_recorded_and_announced(world, workspace):
    version = world.new_version(world.bad)

    event = world.send("MODEL_VERSION_TRANSITIONED_STAGE", version, to_stage="Archived",
                       from_stage="Staging")

    assert event["status"] == "done", event
    [recorded] = decisions(event)
    assert recorded["kind"] == "recorded" and recorded["actor"] == "databricks"
    assert recorded["detail"]["to_stage"] == "Archived"
    assert recorded["detail"]["from_stage"] == "Staging"
    [message] = world.reghook.store.list_outbox(event_id=event["id"])
    assert (message["outcome"], message["version"]) == ("stage_transitioned", version)


def test_transition_made_by_reghooks_own_approval_is_recorded_but_not_announced_again(
        world, workspace):
    version = world.new_version(world.good)
    workspace.request_transition(world.model, version, "Staging")
    assert world.transition_request(version)["status"] == "done"

    echo = world.send("MODEL_VERSION_TRANSITIONED_TO_STAGING", version, to_stage="Staging",
                      from_stage="None")

    assert echo["status"] == "done" and "reghook's own approval" in echo["reason"]
    assert kinds(echo) == ["recorded"]
    assert world.outbox(echo["id"]) == []


def test_archive_requests_and_models_without_policy_are_left_alone(world, workspace):
    version = world.new_version(world.bad)
    workspace.request_transition(world.model, version, "Archived")
    archive = world.transition_request(version, "Archived")
    other = settled(world.reghook, queue_event(
        world.reghook, "databricks", "TRANSITION_REQUEST_CREATED",
        registry_event("TRANSITION_REQUEST_CREATED", "someone_elses_model", "1",
                       to_stage="Production")))

    assert archive["status"] == "ignored" and "not gated" in archive["reason"]
    assert other["status"] == "ignored" and "no policy" in other["reason"]
    assert workspace.decisions == []


def test_registry_events_other_than_transitions_reach_the_same_use_cases(world, workspace):
    version = world.new_version(world.good)

    created = world.send("MODEL_VERSION_CREATED", int(version))  # versions may be numbers
    # reghook.status=passed is the echo of reghook's own write just made.
    tag = world.send("MODEL_VERSION_TAG_SET", version,
                     tags=[{"key": "team", "value": "growth"},
                           {"key": "reghook.status", "value": "passed"}])
    comment = world.send("COMMENT_CREATED", version, comment="looks good to me")

    assert created["status"] == "done", created
    tags = world.client.get_model_version(world.model, version).tags
    assert tags["reghook.status"] == "passed"
    assert tag["status"] == "ignored", tag
    assert "'team' is not a governance tag" in tag["reason"] and "echo" in tag["reason"]
    assert comment["status"] == "done" and comment["reason"] == "audit only"
    assert decisions(comment)[0]["detail"]["comment"] == "looks good to me"


def test_decisions_map_databricks_errors_to_retry_or_fail(monkeypatch):
    databricks_env(monkeypatch)
    workspace = DatabricksWorkspace(retry_timeout_s=1)
    with fake_workspace() as fake:
        fake.request_transition("m", "1", "Staging")
        fake.failures["reject"] = [(403, {"error_code": "PERMISSION_DENIED",
                                          "message": "no MANAGE on m"}),
                                   (503, {"error_code": "TEMPORARILY_UNAVAILABLE",
                                          "message": "later"})]
        with pytest.raises(PermanentError, match="PERMISSION_DENIED"):
            workspace.reject_transition("m", "1", "Staging", "no")
        with pytest.raises(TransientError, match="TEMPORARILY_UNAVAILABLE"):
            workspace.reject_transition("m", "1", "Staging", "no")
        assert workspace.reject_transition("m", "1", "Staging", "no") is True
        assert workspace.reject_transition("m", "1", "Staging", "no") is False  # gone now
        assert workspace.open_transition_stages("m", "1") == []


def test_missing_databricks_configuration_fails_the_event_permanently(monkeypatch):
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(PermanentError, match="not configured"):
        DatabricksWorkspace().approve_transition("m", "1", "Staging", "ok")
