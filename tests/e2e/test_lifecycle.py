"""Lifecycle control against a real mlflow server: approval, guard, rollback, history.

Every registry change here is made either by reghook or by "someone" with
MlflowClient; reghook learns of the latter only from the webhooks the
server sends, exactly as in production.
"""

from __future__ import annotations

import json
import uuid

import mlflow
import pytest

from handler.store import Store
from tests.support.churn import log_churn_run
from tests.support.harness import policy_yaml, running_reghook, wait_for

pytestmark = pytest.mark.mlflow


def queue_run(reghook, run_id: str) -> str:
    event_id, _ = reghook.store.ingest(
        source="events", event_type="run.finished", idempotency_key=uuid.uuid4().hex,
        status="queued", body=json.dumps({"type": "run.finished", "run_id": run_id}), headers={})
    reghook.runtime.wake()
    wait_for(lambda: reghook.store.get_event(event_id)["status"] in ("done", "failed"), 60,
             f"event {event_id}")
    assert reghook.store.get_event(event_id)["status"] == "done"
    reghook.quiet(settle_s=2)
    return event_id


def champion(client, model: str) -> str | None:
    try:
        return client.get_model_version_by_alias(model, "champion").version
    except mlflow.exceptions.MlflowException:
        return None


def version_of(client, model: str, run_id: str) -> str:
    return client.search_model_versions(f"run_id = '{run_id}'")[0].version


def queue_cli(reghook, event_type: str, payload: dict) -> dict:
    event_id, _ = reghook.store.ingest(source="cli", event_type=event_type,
                                       idempotency_key=uuid.uuid4().hex, status="queued",
                                       body=json.dumps(payload), headers={})
    reghook.runtime.wake()
    wait_for(lambda: reghook.store.get_event(event_id)["status"] in ("done", "failed", "ignored"),
             60, event_type)
    reghook.quiet(settle_s=2)
    return reghook.store.get_event(event_id)


@pytest.fixture
def names():
    suffix = uuid.uuid4().hex[:8]
    return f"churn_{suffix}", f"/Shared/lifecycle_{suffix}"


def test_whole_story_approval_guard_rollback_history(mlflow_server, tmp_path, monkeypatch, names):
    model, experiment = names
    client = mlflow.MlflowClient(mlflow_server.url)
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, experiment),
                         monkeypatch=monkeypatch) as reghook:
        # v1 passes → staging, not champion
        run1 = log_churn_run(mlflow_server.url, experiment, good=True, seed=7)
        first = queue_run(reghook, run1.run_id)
        v1 = version_of(client, model, run1.run_id)
        assert client.get_model_version_by_alias(model, "staging").version == v1
        assert champion(client, model) is None

        # v1 approved → champion
        client.set_model_version_tag(model, v1, "approval", "approved")
        wait_for(lambda: champion(client, model) == v1, 30, "v1 to become champion")
        reghook.quiet(settle_s=2)

        # v2 fails → no alias, status failed
        run2 = log_churn_run(mlflow_server.url, experiment, good=False, seed=8)
        queue_run(reghook, run2.run_id)
        v2 = version_of(client, model, run2.run_id)
        assert client.get_model_version(model, v2).tags["reghook.status"] == "failed"
        assert client.get_model_version(model, v2).aliases == []

        # someone sets champion on v2 → reghook moves it back to v1
        client.set_registered_model_alias(model, "champion", v2)
        wait_for(lambda: champion(client, model) == v1, 30, "the guard to restore v1")
        reghook.quiet(settle_s=2)
        assert champion(client, model) == v1
        assert "champion refused" in client.get_model_version(model, v2).tags["reghook.guard"]

        # v3 passes and is approved → champion
        run3 = log_churn_run(mlflow_server.url, experiment, good=True, seed=8)
        queue_run(reghook, run3.run_id)
        v3 = version_of(client, model, run3.run_id)
        client.set_model_version_tag(model, v3, "approval", "approved")
        wait_for(lambda: champion(client, model) == v3, 30, "v3 to become champion")
        reghook.quiet(settle_s=2)

        # rollback → champion back on v1, v3 tagged rolled_back, v1 tagged rollback_from
        result = queue_cli(reghook, "rollback.requested",
                           {"model": model, "reason": "latency regression", "actor": "cli:test"})
        assert result["status"] == "done", result
        assert champion(client, model) == v1
        assert client.get_model_version(model, v3).tags["reghook.status"] == "rolled_back"
        assert client.get_model_version(model, v1).tags["reghook.rollback_from"] == v3

        # history: each step with its event id
        trail = Store.from_url(reghook.settings.database_url).audit_trail(model)
        kinds = [(e["kind"], e["version"]) for e in trail]
        for step in [("registered", v1), ("promoted", v1), ("registered", v2),
                     ("guard_reverted", v2), ("registered", v3), ("promoted", v3),
                     ("rolled_back", v1)]:
            assert step in kinds, (step, kinds)
        assert all(e["event_id"] for e in trail)
        assert next(e for e in trail if e["kind"] == "registered")["event_id"] == first
        rolled = next(e for e in trail if e["kind"] == "rolled_back")
        assert rolled["actor"] == "cli:test" and rolled["detail"]["reason"] == "latency regression"
        moves = reghook.store.alias_moves(model, "champion")
        assert [m["version"] for m in moves] == [v1, v2, v1, v3, v1]


def test_guard_in_alert_mode_only_announces(mlflow_server, tmp_path, monkeypatch, names):
    model, experiment = names
    client = mlflow.MlflowClient(mlflow_server.url)
    policy = policy_yaml(model, experiment, promotion={"alias": "champion",
                                                       "approval_tag": "approval",
                                                       "guard": "alert"})
    with running_reghook(tmp_path, mlflow_server.url, policy, monkeypatch=monkeypatch) as reghook:
        run = log_churn_run(mlflow_server.url, experiment, good=False)
        queue_run(reghook, run.run_id)
        version = version_of(client, model, run.run_id)
        client.set_registered_model_alias(model, "champion", version)
        wait_for(lambda: any(e["kind"] == "alias_alert"
                             for e in reghook.store.audit_trail(model)), 30, "the alert")
        reghook.quiet(settle_s=2)
        assert champion(client, model) == version  # left in place, only announced
        assert "reghook.guard" in client.get_model_version(model, version).tags


def test_rollback_with_nothing_to_roll_back_to_is_a_clear_error(mlflow_server, tmp_path,
                                                                monkeypatch, names):
    model, experiment = names
    client = mlflow.MlflowClient(mlflow_server.url)
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, experiment),
                         monkeypatch=monkeypatch) as reghook:
        result = queue_cli(reghook, "rollback.requested", {"model": model})
        assert result["status"] == "failed"
        run = log_churn_run(mlflow_server.url, experiment, good=True)
        queue_run(reghook, run.run_id)
        version = version_of(client, model, run.run_id)
        client.set_model_version_tag(model, version, "approval", "approved")
        wait_for(lambda: champion(client, model) == version, 30, "promotion")
        reghook.quiet(settle_s=2)
        result = queue_cli(reghook, "rollback.requested", {"model": model})
        assert result["status"] == "failed"
        assert "no previous eligible holder" in result["last_error"]
        assert champion(client, model) == version


def test_approval_racing_a_manual_alias_move_settles_without_flapping(mlflow_server, tmp_path,
                                                                      monkeypatch, names):
    model, experiment = names
    client = mlflow.MlflowClient(mlflow_server.url)
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, experiment),
                         monkeypatch=monkeypatch) as reghook:
        run = log_churn_run(mlflow_server.url, experiment, good=True)
        queue_run(reghook, run.run_id)
        version = version_of(client, model, run.run_id)
        # The reviewer approves and, impatient, also moves the alias by hand.
        client.set_model_version_tag(model, version, "approval", "approved")
        client.set_registered_model_alias(model, "champion", version)
        wait_for(lambda: champion(client, model) == version, 30, "champion")
        reghook.quiet(settle_s=2)
        assert champion(client, model) == version
        moves = reghook.store.alias_moves(model, "champion")
        assert [m["version"] for m in moves] == [version]  # one move, never reverted
        kinds = [e["kind"] for e in reghook.store.audit_trail(model)]
        assert "guard_reverted" not in kinds


def test_approving_a_failed_version_is_refused_tagged_and_announced(mlflow_server, tmp_path,
                                                                    monkeypatch, names):
    model, experiment = names
    client = mlflow.MlflowClient(mlflow_server.url)
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, experiment),
                         monkeypatch=monkeypatch) as reghook:
        run = log_churn_run(mlflow_server.url, experiment, good=False)
        queue_run(reghook, run.run_id)
        version = version_of(client, model, run.run_id)
        client.set_model_version_tag(model, version, "approval", "approved")
        wait_for(lambda: any(e["kind"] == "approval_refused"
                             for e in reghook.store.audit_trail(model)), 30, "the refusal")
        reghook.quiet(settle_s=2)
        assert champion(client, model) is None
        tag = client.get_model_version(model, version).tags["reghook.approval"]
        assert tag.startswith("refused:") and "did not pass" in tag
        outbox = reghook.store.list_outbox(model=model)
        assert [m["outcome"] for m in outbox if m["outcome"] == "approval_refused"] == [
            "approval_refused"]
