"""Databricks Jobs notifications: confirmed with the Jobs API, then the job's MLflow runs governed.

The Jobs API (``GET /api/2.2/jobs/runs/get``) is faked at the HTTP boundary;
the MLflow runs a job "produced" are real runs in the real mlflow server,
tagged ``mlflow.databricks.jobRunID`` as Databricks tags them.
"""

from __future__ import annotations

import random
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
    job_notification,
    queue_event,
    settled,
)
from tests.support.harness import policy_yaml, running_reghook, versions_of_run

pytestmark = pytest.mark.mlflow


def new_id() -> int:
    """A fresh Databricks-style numeric id."""
    return random.randrange(10**14, 10**15)


@dataclass
class Jobs:
    """One reghook whose policy watches one experiment, over the real mlflow server."""

    reghook: Any
    client: mlflow.MlflowClient
    tracking_uri: str
    model: str
    experiment: str

    def training_run(self, job_id: int, job_run_id: int, **kwargs: Any) -> LoggedRun:
        """A run logged from inside a Databricks job (the tags Databricks sets)."""
        tags = {"mlflow.databricks.jobID": str(job_id),
                "mlflow.databricks.jobRunID": str(job_run_id),
                "mlflow.source.name": f"jobs/{job_id}/run/{job_run_id}"}
        return log_churn_run(self.tracking_uri, self.experiment, tags=tags, **kwargs)

    def notify(self, event_type: str, job_id: Any, run_id: Any) -> dict[str, Any]:
        """Store a Jobs notification as the intake would; wait until it settles."""
        event_id = queue_event(self.reghook, "databricks_jobs", event_type,
                               job_notification(event_type, job_id, run_id))
        return settled(self.reghook, event_id)


@pytest.fixture(scope="module")
def jobs(mlflow_server, tmp_path_factory) -> Iterator[Jobs]:
    model = f"churn_jobs_{uuid.uuid4().hex[:8]}"
    experiment = f"/Shared/dbx_jobs_{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as mp, running_reghook(
            tmp_path_factory.mktemp("dbx-jobs"), mlflow_server.url,
            policy_yaml(model, experiment), monkeypatch=mp, webhook=False) as reghook:
        yield Jobs(reghook, mlflow.MlflowClient(mlflow_server.url), mlflow_server.url, model,
                   experiment)


@pytest.fixture
def workspace(jobs, mlflow_server, monkeypatch) -> Iterator[FakeWorkspace]:
    """The fake workspace; reghook builds its Databricks client lazily from the environment."""
    databricks_env(monkeypatch)
    jobs.reghook.context.workspace = None
    with fake_workspace(mlflow_server.url) as fake:
        yield fake
    jobs.reghook.context.workspace = None


@pytest.mark.parametrize("ids_as", [str, int], ids=["ids-as-strings", "ids-as-numbers"])
def test_confirmed_job_success_governs_the_mlflow_run_its_task_produced(jobs, workspace, ids_as):
    job_id, job_run_id, task_run_id = new_id(), new_id(), new_id()
    workspace.add_job_run(job_run_id, job_id, task_run_ids=(task_run_id,))
    produced = jobs.training_run(job_id, task_run_id)  # multi-task job: the task run's id
    elsewhere = jobs.training_run(new_id(), new_id(), seed=9)  # another job's run, same experiment

    event = jobs.notify("jobs.on_success", ids_as(job_id), ids_as(job_run_id))

    assert event["status"] == "done", event
    assert produced.run_id in event["reason"]
    [version] = versions_of_run(jobs.client, jobs.model, produced.run_id)
    assert version.tags["reghook.status"] == "passed"
    assert version.tags["reghook.event_id"] == event["id"]
    assert versions_of_run(jobs.client, jobs.model, elsewhere.run_id) == []
    assert workspace.calls["runs_get"] == 1
    assert workspace.authorizations == {"Bearer dapi-test"}


def test_notification_naming_another_job_is_not_confirmed(jobs, workspace):
    job_run_id = new_id()
    workspace.add_job_run(job_run_id, job_id=new_id())

    event = jobs.notify("jobs.on_success", str(new_id()), str(job_run_id))

    assert event["status"] == "ignored", event
    assert "not confirmed" in event["reason"] and "belongs to job" in event["reason"]
    assert event["actions"] == []


def test_notification_for_a_job_run_that_does_not_exist_is_not_confirmed(jobs, workspace):
    event = jobs.notify("jobs.on_success", new_id(), new_id())

    assert event["status"] == "ignored", event
    assert "does not exist" in event["reason"]


def test_job_run_that_did_not_succeed_is_ignored(jobs, workspace):
    job_id, job_run_id = new_id(), new_id()
    workspace.add_job_run(job_run_id, job_id, result_state="FAILED")

    event = jobs.notify("jobs.on_success", job_id, job_run_id)

    assert event["status"] == "ignored", event
    assert "ended FAILED" in event["reason"]


def test_success_with_failures_counts_as_success_and_no_runs_means_ignored(jobs, workspace):
    job_id, job_run_id, task_run_id = new_id(), new_id(), new_id()
    workspace.add_job_run(job_run_id, job_id, result_state="SUCCESS_WITH_FAILURES",
                          task_run_ids=(task_run_id,))

    event = jobs.notify("jobs.on_success", job_id, job_run_id)

    assert event["status"] == "ignored", event
    assert f"no MLflow runs found for job run {job_run_id}" in event["reason"]
    assert str(task_run_id) in event["reason"]  # one query per id: the job run and its task


def test_failed_job_is_recorded_and_announced(jobs, workspace):
    job_id, job_run_id = new_id(), new_id()

    event = jobs.notify("jobs.on_failure", job_id, job_run_id)

    assert event["status"] == "done", event
    # Sent notifications are audited as "notified" too; the decision is the other entry.
    [recorded] = [a for a in event["actions"] if a["kind"] != "notified"]
    assert recorded["model"] == "train churn"
    assert recorded["detail"]["job_run_id"] == str(job_run_id)
    [message] = jobs.reghook.store.list_outbox(event_id=event["id"])
    assert (message["outcome"], message["model"]) == ("job_failed", "train churn")
    assert workspace.calls == {}  # notify only: nothing to confirm


def test_other_job_notifications_are_ignored(jobs, workspace):
    event = jobs.notify("jobs.on_start", new_id(), new_id())

    assert event["status"] == "ignored" and "does not act on jobs.on_start" in event["reason"]


def test_jobs_api_unavailable_retries_the_event(jobs, workspace):
    # A short SDK retry budget, so the 503 reaches reghook's queue (its own retry policy).
    jobs.reghook.context.workspace = DatabricksWorkspace(retry_timeout_s=1)
    job_id, job_run_id = new_id(), new_id()
    workspace.add_job_run(job_run_id, job_id)
    workspace.failures["runs_get"] = [(503, {"error_code": "TEMPORARILY_UNAVAILABLE",
                                             "message": "Jobs service is restarting"})]

    event = jobs.notify("jobs.on_success", job_id, job_run_id)

    assert event["attempts"] == 2, event
    assert "TEMPORARILY_UNAVAILABLE" in event["attempt_log"][0]["error"]
    assert event["status"] == "ignored" and "no MLflow runs found" in event["reason"]


def test_job_run_still_finishing_is_retried(jobs, workspace):
    job_id, job_run_id = new_id(), new_id()
    workspace.add_job_run(job_run_id, job_id)
    terminating = {**workspace.job_runs[str(job_run_id)],
                   "state": {"life_cycle_state": "TERMINATING"}}
    workspace.failures["runs_get"] = [(200, terminating)]

    event = jobs.notify("jobs.on_success", job_id, job_run_id)

    assert event["attempts"] == 2, event
    assert "still TERMINATING" in event["attempt_log"][0]["error"]


def test_jobs_api_answers_map_to_facts_retry_or_fail(monkeypatch):
    databricks_env(monkeypatch)
    workspace = DatabricksWorkspace(retry_timeout_s=1)
    with fake_workspace() as fake:
        fake.add_job_run(7, 3, result_state=None, life_cycle_state="RUNNING", task_run_ids=(8, 9))
        fake.failures["runs_get"] = [
            (500, {"error_code": "INTERNAL_ERROR", "message": "oops"}),
            (403, {"error_code": "PERMISSION_DENIED", "message": "no access to job 3"}),
            (400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad run id"}),
        ]
        with pytest.raises(TransientError, match="INTERNAL_ERROR"):
            workspace.job_run("7")
        with pytest.raises(PermanentError, match="PERMISSION_DENIED"):
            workspace.job_run("7")
        with pytest.raises(PermanentError, match="INVALID_PARAMETER_VALUE"):
            workspace.job_run("7")
        facts = workspace.job_run("7")
        assert workspace.job_run("404") is None
    assert facts is not None
    assert (facts.job_id, facts.task_run_ids, facts.finished) == ("3", ("8", "9"), False)
    with pytest.raises(PermanentError, match="not a Databricks job run id"):
        workspace.job_run("7' OR '1'='1")
