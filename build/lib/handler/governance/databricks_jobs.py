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
from handler.governance.context import Context
from handler.governance.ports import RunInfo
from handler.governance.results import Result, combine, done, ignored
from handler.governance.runs import govern_run
from handler.governance.writes import record
from handler.outcomes import Outcome
from handler.policy import ModelPolicy
from handler.records import AuditEntry

JOB_RUN_TAG = "mlflow.databricks.jobRunID"
_DIGITS = re.compile(r"^[0-9]{1,20}$")


def experiments_of(ctx: Context, policies: list[ModelPolicy]) -> dict[str, list[ModelPolicy]]:
    """Experiment id → the policies naming it (by name, or by id when no such name exists)."""
    by_id: dict[str, list[ModelPolicy]] = {}
    for policy in policies:
        assert policy.experiment is not None
        found = ctx.registry.experiment_id(policy.experiment)
        if found is None and _DIGITS.match(policy.experiment):
            found = policy.experiment
        if found is not None:
            by_id.setdefault(found, []).append(policy)
    return by_id


def runs_of_job_run(ctx: Context, experiment_ids: list[str], job_run_id: str) -> list[RunInfo]:
    """MLflow runs of these experiments tagged with the job run id (digits only: it enters a filter)."""
    if not _DIGITS.match(job_run_id):
        raise PermanentError(f"{job_run_id!r} is not a Databricks job run id")
    return ctx.registry.runs_tagged(experiment_ids, JOB_RUN_TAG, job_run_id)


def confirmed(ctx: Context, run_id: str, job_id: str) -> tuple[list[str] | None, str]:
    """Ask the Jobs API: the run ids (job run and task runs) to look for, or why not confirmed."""
    facts = ctx.databricks().job_run(run_id)
    if facts is None:
        return None, f"job run {run_id} does not exist in the workspace: not confirmed"
    if facts.job_id != job_id:
        return None, f"job run {run_id} belongs to job {facts.job_id}, not {job_id}: not confirmed"
    if not facts.finished:
        raise TransientError(f"job run {run_id} is still {facts.life_cycle_state}")
    if not facts.succeeded:
        return None, (f"job run {run_id} ended {facts.result_state or facts.life_cycle_state}, "
                      "not in success")
    return list(dict.fromkeys((facts.run_id, *facts.task_run_ids))), ""


def on_job_success(ctx: Context, event_id: str, payload: dict[str, Any]) -> Result:
    """Confirm the run with the Jobs API, then govern each MLflow run it produced."""
    run_id, job_id = str(payload["run"]["run_id"]), str(payload["job"]["job_id"])
    if not (_DIGITS.match(run_id) and _DIGITS.match(job_id)):
        return ignored(f"job {job_id!r} / run {run_id!r} are not Databricks ids")
    ids, why_not = confirmed(ctx, run_id, job_id)
    if ids is None:
        return ignored(why_not)
    policies = [p for p in ctx.policies.models if p.experiment]
    if not policies:
        return ignored("no policy names an experiment to look for the job's runs in")
    experiments = experiments_of(ctx, policies)
    runs = {r.run_id: r for rid in ids
            for r in (runs_of_job_run(ctx, list(experiments), rid) if experiments else [])}
    if not runs:
        return ignored(f"no MLflow runs found for job run {run_id} "
                       f"({JOB_RUN_TAG} in {', '.join(ids)})")
    results, failures = [], []
    for mlflow_run_id, run in runs.items():
        for policy in experiments.get(run.experiment_id, []):
            try:
                result = govern_run(ctx, event_id, mlflow_run_id, policy.name)
            except PermanentError as exc:  # one bad run must not hide the others
                failures.append(f"run {mlflow_run_id}: {exc}")
                continue
            results.append(Result(result.status, f"run {mlflow_run_id}: {result.reason}"))
    if failures and not any(r.status == "done" for r in results):
        raise PermanentError("; ".join(failures)[:2000])
    return combine(results + [Result("ignored", f) for f in failures], "nothing governed")


def on_job_failure(ctx: Context, event_id: str, payload: dict[str, Any]) -> Result:
    """A training job failed: on the record and announced (there is nothing to govern)."""
    job, run = payload.get("job") or {}, payload.get("run") or {}
    job_id, run_id = str(job.get("job_id")), str(run.get("run_id"))
    name = str(job.get("name") or f"job {job_id}")
    extra = {"job_id": job_id, "job_run_id": run_id}
    record(ctx, None, [AuditEntry("recorded", name, None, event_id, actor="databricks",
                                  detail={"event": "jobs.on_failure", **extra})],
           outcome=Outcome("job_failed", name, None, event_id, actor="databricks",
                           reason=f"Databricks job run {run_id} failed", extra=extra))
    return done(f"job {name} run {run_id} failed: announced")
