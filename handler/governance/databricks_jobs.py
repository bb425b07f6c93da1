"""Databricks Jobs notifications: a confirmed ``jobs.on_success`` governs the job's MLflow runs.

Job notifications are not signed (HTTP Basic only), so each one is
confirmed with the Jobs API — same job, finished, succeeded — before
anything is done. The MLflow runs a job produced are found by the tag
Databricks sets on them, ``mlflow.databricks.jobRunID`` (the job run's id,
or a task run's id in multi-task jobs), one query per id since MLflow
filters have no ``IN`` on tags; each run is then governed like any
finished run.
"""

from __future__ import annotations

import re
from typing import Any

from handler.errors import PermanentError, TransientError
from handler.governance import Governor
from handler.governance.core import Result, done, ignored
from handler.governance.databricks import combine, workspace
from handler.outcomes import Outcome
from handler.policy import ModelPolicy
from handler.records import AuditEntry

JOB_RUN_TAG = "mlflow.databricks.jobRunID"
_DIGITS = re.compile(r"^[0-9]{1,20}$")


def runs_tagged_with_job_run(client: Any, experiment_ids: list[str], job_run_id: str,
                             limit: int = 5000) -> list[Any]:
    """MLflow runs (of these experiments) whose ``mlflow.databricks.jobRunID`` is ``job_run_id``.

    The id goes into a filter string, where quotes cannot be escaped: it must be digits.
    """
    if not _DIGITS.match(job_run_id):
        raise PermanentError(f"{job_run_id!r} is not a Databricks job run id")
    query = f"tags.`{JOB_RUN_TAG}` = '{job_run_id}'"
    found: list[Any] = []
    token = None
    while len(found) < limit:
        page = _mlflow_call(f"runs of job run {job_run_id}", lambda t=token: client.search_runs(
            experiment_ids, filter_string=query, max_results=500, page_token=t))
        found.extend(r for r in page if r.data.tags.get(JOB_RUN_TAG) == job_run_id)
        token = page.token
        if not token:
            break
    return found


def _mlflow_call(what: str, fn: Any) -> Any:
    # The registry adapter owns mlflow imports; its exceptions are recognised by shape.
    try:
        return fn()
    except (TransientError, PermanentError):
        raise
    except OSError as exc:
        raise TransientError(f"{what}: MLflow unreachable ({type(exc).__name__})") from exc
    except Exception as exc:
        status = getattr(exc, "get_http_status_code", None)
        if status is None:
            raise
        code = status()
        error = TransientError if code >= 500 or code == 429 else PermanentError
        raise error(f"{what}: MLflow answered {code} ({str(exc)[:300]})") from exc


def experiment_ids(client: Any, policies: list[ModelPolicy]) -> dict[str, list[ModelPolicy]]:
    """Experiment id → the policies naming it (by name, or by id when no such name exists)."""
    by_id: dict[str, list[ModelPolicy]] = {}
    for policy in policies:
        assert policy.experiment is not None
        found = _mlflow_call(f"experiment {policy.experiment}",
                             lambda p=policy: client.get_experiment_by_name(p.experiment))
        if found is not None:
            by_id.setdefault(str(found.experiment_id), []).append(policy)
        elif _DIGITS.match(policy.experiment):
            by_id.setdefault(policy.experiment, []).append(policy)
    return by_id


def on_job_success(governor: Governor, event_id: str, payload: dict[str, Any]) -> Result:
    """Confirm the run with the Jobs API, then govern each MLflow run it produced."""
    run_id, job_id = str(payload["run"]["run_id"]), str(payload["job"]["job_id"])
    if not (_DIGITS.match(run_id) and _DIGITS.match(job_id)):
        return ignored(f"job {job_id!r} / run {run_id!r} are not Databricks ids")
    facts = workspace(governor).job_run(run_id)
    if facts is None:
        return ignored(f"job run {run_id} does not exist in the workspace: not confirmed")
    if facts.job_id != job_id:
        return ignored(f"job run {run_id} belongs to job {facts.job_id}, not {job_id}: "
                       "not confirmed")
    if not facts.finished:
        raise TransientError(f"job run {run_id} is still {facts.life_cycle_state}")
    if not facts.succeeded:
        return ignored(f"job run {run_id} ended {facts.result_state or facts.life_cycle_state}, "
                       "not in success")
    policies = [p for p in governor.policies.models if p.experiment]
    if not policies:
        return ignored("no policy names an experiment to look for the job's runs in")
    client = getattr(governor.registry, "client", None)  # MlflowRegistry's MlflowClient
    if client is None:
        raise PermanentError("the registry adapter cannot search runs by tag (no MLflow client)")
    experiments = experiment_ids(client, policies)
    ids = list(dict.fromkeys((facts.run_id, *facts.task_run_ids)))
    runs = {r.info.run_id: r for rid in ids
            for r in (runs_tagged_with_job_run(client, list(experiments), rid)
                      if experiments else [])}
    if not runs:
        return ignored(f"no MLflow runs found for job run {run_id} "
                       f"({JOB_RUN_TAG} in {', '.join(ids)})")
    results, failures = [], []
    for mlflow_run_id, run in runs.items():
        for policy in experiments.get(str(run.info.experiment_id), []):
            try:
                result = governor.govern_run(event_id, mlflow_run_id, policy.name)
            except PermanentError as exc:  # one bad run must not hide the others
                failures.append(f"run {mlflow_run_id}: {exc}")
                continue
            results.append(Result(result.status, f"run {mlflow_run_id}: {result.reason}"))
    if failures and not any(r.status == "done" for r in results):
        raise PermanentError("; ".join(failures)[:2000])
    return combine(results + [Result("ignored", f) for f in failures], "nothing governed")


def on_job_failure(governor: Governor, event_id: str, payload: dict[str, Any]) -> Result:
    """A training job failed: on the record and announced (there is nothing to govern)."""
    job, run = payload.get("job") or {}, payload.get("run") or {}
    job_id, run_id = str(job.get("job_id")), str(run.get("run_id"))
    name = str(job.get("name") or f"job {job_id}")
    extra = {"job_id": job_id, "job_run_id": run_id}
    governor.record(None, [AuditEntry("recorded", name, None, event_id, actor="databricks",
                                      detail={"event": "jobs.on_failure", **extra})],
                    outcome=Outcome("job_failed", name, None, event_id, actor="databricks",
                                    reason=f"Databricks job run {run_id} failed", extra=extra))
    return done(f"job {name} run {run_id} failed: announced")
