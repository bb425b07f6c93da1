"""Databricks senders over a FakeWorkspace: transition requests decided by the gates, job runs confirmed."""

from __future__ import annotations

import json

import pytest

from handler.errors import TransientError
from handler.governance.databricks_jobs import JOB_RUN_TAG
from handler.governance.ports import JobRunFacts
from handler.governance.runs import govern_run
from tests.unit.governance.conftest import MODEL


def request(version: str, stage: str = "Staging") -> str:
    return json.dumps({"event": "TRANSITION_REQUEST_CREATED", "model_name": MODEL,
                       "version": version, "to_stage": stage, "event_timestamp": 1})


def test_a_passing_version_transition_request_is_approved_with_the_gates_in_the_comment(world):
    world.run("r1")
    v1 = world.registry.register_by_hand(MODEL, "r1")
    world.workspace.open_requests[(MODEL, v1)] = ["Staging"]
    result = world.dispatch("databricks", "TRANSITION_REQUEST_CREATED", request(v1))
    assert result.status == "done" and "approved" in (result.reason or "")
    decision, *_rest, comment = world.workspace.decisions[0]
    assert decision == "approved" and "recall 0.8>=0.7 ok" in comment
    assert world.outcomes()[-1] == "transition_approved"


def test_a_failing_version_transition_request_is_rejected_naming_the_failed_gate(world):
    world.run("r1", recall=0.5)
    v1 = world.registry.register_by_hand(MODEL, "r1")
    world.workspace.open_requests[(MODEL, v1)] = ["Production"]
    world.dispatch("databricks", "TRANSITION_REQUEST_TO_PRODUCTION_CREATED",
                   json.dumps({"event": "TRANSITION_REQUEST_TO_PRODUCTION_CREATED",
                               "model_name": MODEL, "version": v1, "event_timestamp": 1}))
    decision, *_rest, comment = world.workspace.decisions[0]
    assert decision == "rejected" and "recall: observed 0.5, expected >=0.7" in comment


def test_a_request_decided_already_is_left_alone(world):
    world.run("r1")
    v1 = world.registry.register_by_hand(MODEL, "r1")
    result = world.dispatch("databricks", "TRANSITION_REQUEST_CREATED", request(v1))
    assert result.status == "ignored" and world.workspace.decisions == []


def test_the_stage_change_reghook_approved_is_not_announced_twice(world):
    world.run("r1")
    v1 = world.registry.register_by_hand(MODEL, "r1")
    world.workspace.open_requests[(MODEL, v1)] = ["Staging"]
    world.dispatch("databricks", "TRANSITION_REQUEST_CREATED", request(v1))
    echo = world.dispatch("databricks", "MODEL_VERSION_TRANSITIONED_STAGE", json.dumps(
        {"event": "MODEL_VERSION_TRANSITIONED_STAGE", "model_name": MODEL, "version": v1,
         "to_stage": "Staging", "from_stage": "None", "event_timestamp": 1}))
    assert "reghook's own approval" in (echo.reason or "")
    assert world.outcomes().count("stage_transitioned") == 0


def job_notice(run_id: str = "55", job_id: str = "7") -> str:
    return json.dumps({"event_type": "jobs.on_success", "run": {"run_id": run_id},
                       "job": {"job_id": job_id, "name": "train"}})


def test_a_confirmed_job_success_governs_the_runs_it_tagged(world):
    world.run("r1", tags={"git_commit": "abc", JOB_RUN_TAG: "56"})
    world.workspace.job_runs["55"] = JobRunFacts("55", "7", "TERMINATED", "SUCCESS",
                                                 task_run_ids=("56",))
    result = world.dispatch("databricks_jobs", "jobs.on_success", job_notice())
    assert result.status == "done" and "run r1" in (result.reason or "")
    assert world.registry.find_version_for_run(MODEL, "r1") is not None


def test_a_job_notice_the_jobs_api_does_not_confirm_governs_nothing(world):
    world.run("r1", tags={"git_commit": "abc", JOB_RUN_TAG: "55"})
    world.workspace.job_runs["55"] = JobRunFacts("55", "8", "TERMINATED", "SUCCESS")
    result = world.dispatch("databricks_jobs", "jobs.on_success", job_notice())
    assert result.status == "ignored" and "not confirmed" in (result.reason or "")
    assert "55" not in world.workspace.job_runs or world.registry.writes() == []


def test_a_job_still_running_is_retried(world):
    world.workspace.job_runs["55"] = JobRunFacts("55", "7", "RUNNING", None)
    with pytest.raises(TransientError):
        world.dispatch("databricks_jobs", "jobs.on_success", job_notice())


def test_a_failed_job_is_announced_under_its_name(world):
    result = world.dispatch("databricks_jobs", "jobs.on_failure", json.dumps(
        {"event_type": "jobs.on_failure", "run": {"run_id": "55"},
         "job": {"job_id": "7", "name": "train"}}))
    assert result.status == "done"
    assert world.store.list_outbox(limit=5)[0]["outcome"] == "job_failed"


def test_a_governed_version_is_approved_without_revalidating_twice(world):
    world.run("r1")
    govern_run(world.ctx, world.event_id(), "r1")
    world.workspace.open_requests[(MODEL, "1")] = ["Staging"]
    writes = len(world.registry.writes())
    world.dispatch("databricks", "TRANSITION_REQUEST_CREATED", request("1"))
    assert len(world.registry.writes()) == writes  # converged already: nothing to write
