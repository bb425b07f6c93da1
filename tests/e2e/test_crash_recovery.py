"""A worker process killed at any step boundary loses nothing and duplicates nothing (docs/processing.md).

``tests/support/crashing_worker.py`` runs a worker whose registry or ledger
SIGKILLs its own process at a step boundary, as an OOM kill or a node loss
would. A new worker (without the
fault) takes the event over when the lease ends and converges: one version,
every tag and alias, the audit trail and one notification.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest

from handler.store import Store, upgrade
from tests.support.churn import log_churn_run
from tests.support.harness import policy_yaml, versions_of_run
from tests.support.store_queries import registration_state

pytestmark = [pytest.mark.mlflow, pytest.mark.slow]

REGHOOK = Path(sys.executable).parent / "reghook"
LEASE_S = 2


@pytest.fixture(scope="module")
def run(mlflow_server):
    """One good run; each crash point governs it under its own model name."""
    experiment = f"/Shared/crash_{uuid.uuid4().hex[:8]}"
    return SimpleNamespace(experiment=experiment,
                           logged=log_churn_run(mlflow_server.url, experiment, good=True))


def reghook_worker_once(env: dict[str, str],
                        crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    """``reghook worker --once`` in its own process (killing itself at ``crash_at``, if given)."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("REGHOOK_")}
    child_env.update(env)
    command = ([sys.executable, "-m", "tests.support.crashing_worker", crash_at] if crash_at
               else [str(REGHOOK), "worker", "--once"])
    return subprocess.run(command, env=child_env, capture_output=True, text=True, timeout=180,
                          check=False, cwd=Path(__file__).parents[2])


def queue_event(store: Store, client, model: str, run_id: str, flow: str) -> str:
    """Store the event that starts ``flow``: a finished run, or a version registered by hand."""
    if flow == "run.finished":
        body = {"type": "run.finished", "run_id": run_id}
        source = "events"
    else:
        model_id = client.get_run(run_id).outputs.model_outputs[0].model_id
        client.create_registered_model(model)
        version = client.create_model_version(model, f"models:/{model_id}", run_id=run_id,
                                              model_id=model_id)
        # What the MLflow server would have delivered about it.
        body = {"entity": "model_version", "action": "created", "timestamp": "2026-01-01T00:00:00Z",
                "data": {"name": model, "version": version.version, "source": version.source,
                         "run_id": run_id, "tags": {}, "description": None}}
        source = "mlflow"
    event_id, _ = store.ingest(source=source, event_type=flow, idempotency_key=uuid.uuid4().hex,
                               status="queued", headers={}, body=json.dumps(body))
    return event_id


@pytest.mark.parametrize(("flow", "step"), [
    ("run.finished", "registered"),
    ("run.finished", "tagged"),
    ("run.finished", "aliased"),
    ("model_version.created", "tagged"),
    ("model_version.created", "aliased"),
])
def test_worker_killed_at_step_boundary_is_recovered_by_the_next_worker(
        flow, step, mlflow_server, run, tmp_path):
    model = f"churn_{uuid.uuid4().hex[:8]}"
    client = mlflow.MlflowClient(mlflow_server.url)
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_yaml(model, run.experiment))
    database_url = f"sqlite:///{tmp_path / 'reghook.db'}"
    upgrade(database_url)
    store = Store.from_url(database_url)
    event_id = queue_event(store, client, model, run.logged.run_id, flow)
    env = {"REGHOOK_DATABASE_URL": database_url, "REGHOOK_POLICY": str(policy),
           "MLFLOW_TRACKING_URI": mlflow_server.url, "REGHOOK_LEASE_S": str(LEASE_S),
           "REGHOOK_BACKOFF_BASE_S": "0.2", "REGHOOK_BACKOFF_MAX_S": "0.5"}
    try:
        crashed = reghook_worker_once(env, crash_at=step)
        assert crashed.returncode == -9, crashed.stderr[-3000:]
        assert store.get_event(event_id)["status"] == "processing"
        assert len(versions_of_run(client, model, run.logged.run_id)) == 1
        staged = "staging" in client.get_registered_model(model).aliases
        assert staged == (step == "aliased")

        # With --once an event is not due before its lease ends. A worker process
        # takes longer than LEASE_S to start, so the next one usually finds it due;
        # if it was quicker than the clock it exits at once and is started again.
        # The killed worker's registration claim may outlive its event lease by a
        # moment: then the event is retried (after a short backoff) by the next run.
        for _ in range(8):
            recovered = reghook_worker_once(env)
            assert recovered.returncode == 0, recovered.stderr[-3000:]
            if store.get_event(event_id)["status"] not in ("processing", "queued"):
                break
            time.sleep(0.5)

        event = store.get_event(event_id)
        assert (event["status"], event["reason"]) == ("done", "v1 passed"), event
        attempts = event["attempt_log"]
        assert attempts[0]["outcome"] is None  # the killed worker never finished its attempt
        assert attempts[-1]["outcome"] == "done"
        assert all(a["outcome"] == "retry" and "being registered" in a["error"]
                   for a in attempts[1:-1]), attempts
        versions = versions_of_run(client, model, run.logged.run_id)
        assert [v.version for v in versions] == ["1"]
        tags = versions[0].tags
        assert tags["reghook.status"] == "passed"
        assert tags["reghook.event_id"] == event_id
        assert tags["reghook.run_id"] == run.logged.run_id
        assert tags["reghook.validated_at"].endswith("Z")
        assert "recall" in tags["reghook.gates"]
        assert tags["deployment_mode"] == "batch_inference_only"
        assert tags["known_limitation"] == "extreme_class_imbalance"
        assert client.get_registered_model(model).aliases == {"staging": "1"}

        # The records a killed worker could not write are written by its successor, once.
        kinds = [e["kind"] for e in store.audit_trail(model)]
        assert kinds.count("validated") == 1
        assert kinds.count("registered") == (1 if flow == "run.finished" else 0)
        assert [(m["alias"], m["version"]) for m in store.alias_moves(model)] == [("staging", "1")]
        assert [m["outcome"] for m in store.list_outbox(model=model)] == ["registered"]
        if flow == "run.finished":
            assert kinds.index("registered") < kinds.index("validated")
            assert registration_state(store, model, run.logged.run_id) == ("registered", "1")
    finally:
        store.dispose()
