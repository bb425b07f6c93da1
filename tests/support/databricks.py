"""A Databricks workspace faked at the HTTP boundary with ``responses``, and helpers to feed events.

Only Databricks is faked: calls to the local mlflow server pass through, so
the MLflow side of every test is the real server. Request and response
shapes are Databricks' documented ones and databricks-sdk 0.162.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from tests.support.harness import wait_for

HOST = "https://dbc-test.cloud.databricks.com"
TOKEN = "dapi-test"
TRANSITIONS = f"{HOST}/api/2.0/mlflow/transition-requests"
RUNS_GET = f"{HOST}/api/2.2/jobs/runs/get"


def databricks_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the SDK at the fake workspace (conftest already hides ~/.databrickscfg)."""
    monkeypatch.setenv("DATABRICKS_HOST", HOST)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)


def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json"}, json.dumps(body)


def not_found(message: str) -> tuple[int, dict[str, Any]]:
    """Databricks' answer for something that does not exist (any more)."""
    return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": message}


@dataclass
class FakeWorkspace:
    """Open transition requests and job runs, as a workspace would hold them.

    ``failures`` scripts answers for the next calls of a route ("approve",
    "reject", "runs_get"): each call takes the first one, if any.
    """

    open_requests: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    job_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    authorizations: set[str] = field(default_factory=set)

    def request_transition(self, model: str, version: str, stage: str) -> None:
        """Someone asks to move a version to ``stage``."""
        self.open_requests.setdefault((model, version), []).append(stage)

    def approvals(self) -> list[dict[str, Any]]:
        """Bodies of every approve call that succeeded."""
        return [d["body"] for d in self.decisions if d["action"] == "approve"]

    def rejections(self) -> list[dict[str, Any]]:
        """Bodies of every reject call that succeeded."""
        return [d["body"] for d in self.decisions if d["action"] == "reject"]

    def _scripted(self, route: str, request: Any) -> tuple[int, dict[str, Any]] | None:
        self.calls[route] = self.calls.get(route, 0) + 1
        self.authorizations.add(request.headers.get("Authorization", ""))
        queue = self.failures.get(route) or []
        return queue.pop(0) if queue else None

    def _list(self, request: Any) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlparse(request.url).query)
        key = (query["name"][0], query["version"][0])
        stages = self.open_requests.get(key, [])
        return _json(200, {"requests": [
            {"to_stage": s, "from_stage": "None", "user_id": "ds@example.com",
             "creation_timestamp": 1700000000000 + i, "comment": "please"}
            for i, s in enumerate(stages)]})

    def _decide(self, action: str, request: Any) -> tuple[int, dict[str, str], str]:
        scripted = self._scripted(action, request)
        if scripted:
            return _json(*scripted)
        body = json.loads(request.body)
        stages = self.open_requests.get((body["name"], body["version"]), [])
        if body["stage"] not in stages:
            return _json(*not_found("Transition request does not exist."))
        stages.remove(body["stage"])
        self.decisions.append({"action": action, "body": body})
        return _json(200, {"activity": {
            "activity_type": "APPROVED_REQUEST" if action == "approve" else "REJECTED_REQUEST",
            "to_stage": body["stage"], "comment": body["comment"], "id": uuid.uuid4().hex}})

    def _runs_get(self, request: Any) -> tuple[int, dict[str, str], str]:
        scripted = self._scripted("runs_get", request)
        if scripted:
            return _json(*scripted)
        run_id = parse_qs(urlparse(request.url).query)["run_id"][0]
        if run_id not in self.job_runs:
            return _json(*not_found(f"Run {run_id} does not exist."))
        return _json(200, self.job_runs[run_id])

    def add_job_run(self, run_id: int, job_id: int, *, result_state: str | None = "SUCCESS",
                    life_cycle_state: str = "TERMINATED", task_run_ids: tuple[int, ...] = (),
                    ) -> None:
        """A job run as ``GET /api/2.2/jobs/runs/get`` answers it (ids are numbers there)."""
        state: dict[str, Any] = {"life_cycle_state": life_cycle_state}
        if result_state:
            state["result_state"] = result_state
        self.job_runs[str(run_id)] = {
            "job_id": job_id, "run_id": run_id, "run_name": "train churn", "state": state,
            "tasks": [{"run_id": t, "task_key": f"task_{i}", "state": state}
                      for i, t in enumerate(task_run_ids)]}


@contextmanager
def fake_workspace(*passthru: str) -> Iterator[FakeWorkspace]:
    """Intercept every request to the fake workspace; let ``passthru`` prefixes through."""
    fake = FakeWorkspace()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        for prefix in passthru:
            rsps.add_passthru(prefix)
        rsps.add(responses.GET, f"{HOST}/.well-known/databricks-config",
                 json={"workspace_id": "1234567890"})
        rsps.add_callback(responses.GET, f"{TRANSITIONS}/list", callback=fake._list)
        rsps.add_callback(responses.POST, f"{TRANSITIONS}/approve",
                          callback=lambda r: fake._decide("approve", r))
        rsps.add_callback(responses.POST, f"{TRANSITIONS}/reject",
                          callback=lambda r: fake._decide("reject", r))
        rsps.add_callback(responses.GET, RUNS_GET, callback=fake._runs_get)
        yield fake


def registry_event(event: str, model: str, version: str | int | None,
                   **fields: Any) -> dict[str, Any]:
    """A Workspace Model Registry webhook body (Databricks' documented shape)."""
    body: dict[str, Any] = {"event": event, "webhook_id": uuid.uuid4().hex,
                            "event_timestamp": 1700000000000, "model_name": model,
                            "text": f"{event} on {model}"}
    if version is not None:
        body["version"] = version
    return {**body, **fields}


def job_notification(event_type: str, job_id: str | int, run_id: str | int,
                     name: str = "train churn") -> dict[str, Any]:
    """A Jobs webhook notification body (ids as given: strings or numbers)."""
    return {"event_type": event_type, "workspace_id": "1234567890",
            "run": {"run_id": run_id}, "job": {"job_id": job_id, "name": name}}


def queue_event(reghook: Any, source: str, event_type: str, payload: dict[str, Any]) -> str:
    """Store an event as the intake would (same source and type), wake the worker, return its id."""
    event_id, _ = reghook.store.ingest(source=source, event_type=event_type,
                                       idempotency_key=uuid.uuid4().hex, status="queued",
                                       body=json.dumps(payload), headers={})
    reghook.runtime.wake()
    return str(event_id)


def settled(reghook: Any, event_id: str, timeout_s: float = 60) -> dict[str, Any]:
    """Wait until an event is done, ignored or failed; return it (with its actions)."""
    wait_for(lambda: reghook.store.get_event(event_id)["status"] in ("done", "ignored", "failed"),
             timeout_s, f"event {event_id} to settle")
    event: dict[str, Any] = reghook.store.get_event(event_id)
    return event


def replay(reghook: Any, event_id: str) -> str:
    """``reghook replay``: queue a copy of a stored event and wake the worker."""
    copy = reghook.store.replay(event_id)
    assert copy is not None
    reghook.runtime.wake()
    return str(copy)
