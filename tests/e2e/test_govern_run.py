"""The run-finished flow against a real mlflow server, with webhooks sent by that server."""

from __future__ import annotations

import json
import uuid

import mlflow
import pytest

from tests.support.churn import log_churn_run
from tests.support.harness import policy_yaml, running_reghook, wait_for

pytestmark = pytest.mark.mlflow


def queue_run_finished(reghook, run_id: str, model: str | None = None) -> str:
    """Store a run.finished event as /events would, and wake the worker."""
    body = {"type": "run.finished", "run_id": run_id, **({"model": model} if model else {})}
    event_id, _ = reghook.store.ingest(source="events", event_type="run.finished",
                                       idempotency_key=uuid.uuid4().hex, status="queued",
                                       body=json.dumps(body), headers={})
    reghook.runtime.wake()
    return event_id


def event_status(reghook, event_id: str) -> str:
    return reghook.store.get_event(event_id)["status"]


def test_passing_run_is_registered_tagged_and_staged(mlflow_server, tmp_path, monkeypatch):
    model, experiment = f"churn_{uuid.uuid4().hex[:8]}", f"/Shared/churn_{uuid.uuid4().hex[:8]}"
    run = log_churn_run(mlflow_server.url, experiment, good=True)
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, experiment),
                         monkeypatch=monkeypatch) as reghook:
        event_id = queue_run_finished(reghook, run.run_id)
        wait_for(lambda: event_status(reghook, event_id) == "done", 60, "the event to be done")
        reghook.quiet()
        client = mlflow.MlflowClient(mlflow_server.url)
        versions = client.search_model_versions(f"run_id = '{run.run_id}'")
        assert [v.name for v in versions] == [model]
        version = client.get_model_version(model, versions[0].version)
        assert version.tags["reghook.status"] == "passed"
        assert version.tags["reghook.run_id"] == run.run_id
        assert version.tags["reghook.event_id"] == event_id
        assert version.tags["deployment_mode"] == "batch_inference_only"
        assert "recall" in version.tags["reghook.gates"]
        assert client.get_model_version_by_alias(model, "staging").version == version.version
        events = reghook.store.list_events(limit=100)
        print(json.dumps(events, indent=1))
        assert all(e["status"] in ("done", "ignored") for e in events)


def test_a_hand_made_version_with_a_forged_reghook_event_id_is_still_governed(
        mlflow_server, tmp_path, monkeypatch):
    model, experiment = f"churn_{uuid.uuid4().hex[:8]}", f"/Shared/churn_{uuid.uuid4().hex[:8]}"
    run = log_churn_run(mlflow_server.url, experiment, good=False)
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, experiment),
                         monkeypatch=monkeypatch) as reghook:
        client = mlflow.MlflowClient(mlflow_server.url)
        client.create_registered_model(model)
        # Someone registers by hand and pastes governance tags to look governed.
        version = client.create_model_version(
            model, f"runs:/{run.run_id}/churn_pipeline_model", run_id=run.run_id,
            tags={"reghook.event_id": "evt_forged", "reghook.status": "passed"})
        wait_for(lambda: reghook.store.last_verdict(model, version.version), 60, "the verdict")
        reghook.quiet()
        tags = client.get_model_version(model, version.version).tags
        assert tags["reghook.status"] == "failed"
        assert tags["reghook.event_id"] != "evt_forged"
