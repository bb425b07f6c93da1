"""The Databricks workspace adapter: the only runtime module that imports ``databricks.sdk``.

It answers two questions and makes two decisions for the governance use
cases — which transition requests are open on a version, approve one,
reject one, and what a job run really was (the Jobs webhook is not signed,
so every notification is confirmed here) — and maps the SDK's errors onto
reghook's: 5xx, 429, timeouts and connection errors are transient (the
event is retried), other 4xx are permanent.

The client is built on first use from ``DATABRICKS_HOST`` / ``DATABRICKS_TOKEN``
or a config profile (read by the SDK itself, docs/configuration.md), so a worker
that never sees a Databricks event needs no Databricks configuration. The
SDK's own retry budget is kept short: the worker's queue, with its backoff
and lease, is reghook's retry policy, and a worker thread blocked for five
minutes inside the SDK would outlive its lease.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.errors import platform as api_errors
from databricks.sdk.errors.base import DatabricksError

from handler.errors import PermanentError, TransientError
from handler.governance.ports import JobRunFacts

T = TypeVar("T")

_TRANSIENT = (api_errors.TooManyRequests, api_errors.InternalError,
              api_errors.TemporarilyUnavailable, api_errors.DeadlineExceeded, api_errors.Aborted)
# The 4xx (and 501) classes the SDK maps status codes to. An error of the bare
# base class came from any other status (a proxy's 502, an unparseable body):
# worth a retry, bounded by the worker's max attempts.
_CLIENT_ERRORS = (api_errors.BadRequest, api_errors.Unauthenticated, api_errors.PermissionDenied,
                  api_errors.NotFound, api_errors.ResourceConflict, api_errors.Cancelled,
                  api_errors.NotImplemented)


def _enum_value(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def job_run_facts(run: Any) -> JobRunFacts:
    """Facts from an SDK ``jobs.Run`` (``state`` first; the newer ``status`` when it is absent)."""
    state, status = run.state, run.status
    result = _enum_value(state.result_state) if state else None
    life_cycle = _enum_value(state.life_cycle_state) if state else None
    if result is None and status is not None and status.termination_details is not None:
        result = _enum_value(status.termination_details.code)
    if life_cycle is None and status is not None:
        life_cycle = _enum_value(status.state)
    tasks = tuple(dict.fromkeys(str(t.run_id) for t in (run.tasks or []) if t.run_id is not None))
    job_id = None if run.job_id is None else str(run.job_id)
    return JobRunFacts(run_id=str(run.run_id), job_id=job_id, life_cycle_state=life_cycle,
                       result_state=result, task_run_ids=tasks, run_name=run.run_name)


def classify(exc: Exception, what: str) -> Exception:
    """The reghook error for an SDK error: transient (retry) or permanent (fail)."""
    if isinstance(exc, TimeoutError) and isinstance(exc.__cause__, DatabricksError):
        # The SDK's own retries ran out (429/503): say what the last answer was.
        return classify(exc.__cause__, what)
    if isinstance(exc, DatabricksError):
        code = exc.error_code or type(exc).__name__
        message = str(exc)[:300]
        if isinstance(exc, _TRANSIENT) or not isinstance(exc, _CLIENT_ERRORS):
            return TransientError(f"{what}: Databricks unavailable ({code}: {message})")
        return PermanentError(f"{what}: Databricks refused ({code}: {message})")
    if isinstance(exc, OSError):  # TimeoutError after the SDK's retries, connection errors
        return TransientError(f"{what}: Databricks unreachable ({type(exc).__name__}: {exc})")
    if isinstance(exc, ValueError):  # the SDK's "cannot configure default credentials"
        return PermanentError(f"{what}: Databricks is not configured (set DATABRICKS_HOST and "
                              f"DATABRICKS_TOKEN, or a config profile): {exc}")
    return exc


class DatabricksWorkspace:
    """Transition decisions and job-run facts through ``WorkspaceClient`` (REST)."""

    def __init__(self, client: WorkspaceClient | None = None, *, retry_timeout_s: int = 20,
                 http_timeout_s: int = 30) -> None:
        self._client = client
        self._retry_timeout_s = retry_timeout_s
        self._http_timeout_s = http_timeout_s

    @property
    def client(self) -> WorkspaceClient:
        """The SDK client, built on first use (config from the environment or a profile)."""
        if self._client is None:
            self._client = self._call("Databricks configuration", lambda: WorkspaceClient(
                config=Config(retry_timeout_seconds=self._retry_timeout_s,
                              http_timeout_seconds=self._http_timeout_s)))
        return self._client

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (DatabricksError, OSError, ValueError) as exc:
            raise classify(exc, what) from exc

    # --- Workspace Model Registry (legacy, stages) --------------------------------

    def open_transition_stages(self, name: str, version: str) -> list[str]:
        """The stages a version has open transition requests to (none if it does not exist)."""
        try:
            requests = self._call(f"transition requests of {name} v{version}", lambda: list(
                self.client.model_registry.list_transition_requests(name, version)))
        except PermanentError as exc:
            if isinstance(exc.__cause__, api_errors.NotFound):
                return []
            raise
        return [r.to_stage for r in requests if r.to_stage]

    def approve_transition(self, name: str, version: str, stage: str, comment: str) -> bool:
        """Approve the request to move a version to ``stage``.

        False when the request no longer exists: someone (or an earlier
        attempt whose answer was lost) already approved, rejected or withdrew it.
        """
        return self._decide(f"approve {name} v{version} → {stage}", lambda: (
            self.client.model_registry.approve_transition_request(
                name, version, stage, archive_existing_versions=False, comment=comment)))

    def reject_transition(self, name: str, version: str, stage: str, comment: str) -> bool:
        """Reject the request to move a version to ``stage`` (False: it no longer exists)."""
        return self._decide(f"reject {name} v{version} → {stage}", lambda: (
            self.client.model_registry.reject_transition_request(
                name, version, stage, comment=comment)))

    def _decide(self, what: str, fn: Callable[[], Any]) -> bool:
        try:
            self._call(what, fn)
        except PermanentError as exc:
            # RESOURCE_DOES_NOT_EXIST / 404: the request is decided already.
            if isinstance(exc.__cause__, api_errors.NotFound):
                return False
            raise
        return True

    # --- Jobs ------------------------------------------------------------------------

    def job_run(self, run_id: str) -> JobRunFacts | None:
        """What the Jobs API says about a run (None: no such run in this workspace)."""
        if not run_id.isdigit():
            raise PermanentError(f"{run_id!r} is not a Databricks job run id")
        try:
            run = self._call(f"job run {run_id}", lambda: self.client.jobs.get_run(int(run_id)))
        except PermanentError as exc:
            if isinstance(exc.__cause__, api_errors.NotFound):
                return None
            raise
        return job_run_facts(run)
