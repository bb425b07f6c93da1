"""Unity Catalog end to end: reghook's real worker, MLflow's real UC client, a workspace stand-in.

Tracking is the session's real mlflow server; the registry is the stand-in of
``tests/support/uc_workspace.py`` (``MLFLOW_REGISTRY_URI=databricks-uc``),
which records every request, so the tests assert on what reghook actually
sent. UC sends no registry webhooks: what people do there reaches reghook
through the registry watch (``reghook watch --once`` here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from handler.cli import main
from handler.store import Store, upgrade
from tests.support.churn import log_churn_run
from tests.support.harness import policy_yaml, running_reghook, wait_for
from tests.support.uc_workspace import uc_workspace

pytestmark = [pytest.mark.mlflow, pytest.mark.slow]
CREATE = "model-versions/create"


@pytest.fixture
def uc(monkeypatch):
    """The workspace stand-in, with MLflow and databricks-sdk pointed at it."""
    with uc_workspace() as workspace:
        for key, value in workspace.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("MLFLOW_REGISTRY_URI", "databricks-uc")
        yield workspace


@pytest.fixture
def names():
    suffix = uuid.uuid4().hex[:8]
    return f"main.ml.churn_{suffix}", f"/Shared/uc_{suffix}"


@pytest.fixture
def reghook(uc, names, mlflow_server, tmp_path, monkeypatch):
    model, experiment = names
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, experiment),
                         monkeypatch=monkeypatch, webhook=False, watch_interval_s=0) as running:
        yield running


def tags_of(uc, model, version):
    return {t["key"]: t["value"] for t in uc.version(model, version).get("tags", [])}


def aliases_of(uc, model):
    return {a["alias"]: a["version"] for a in uc.model(model).get("aliases", [])}


def watch_once(reghook) -> list[dict]:
    """``reghook watch --once --json`` against the running reghook's store and policy."""
    env = {"REGHOOK_DATABASE_URL": reghook.settings.database_url,
           "REGHOOK_POLICY": reghook.settings.policy}
    result = CliRunner().invoke(main, ["watch", "--once", "--json"], env=env)
    assert result.exit_code == 0, result.output
    # stdout only (the CLI says what it does on stderr); the running worker thread's log
    # channel may print notifications into the same captured stdout: take the command's
    # own document, which starts with its "changes" key.
    text = result.stdout
    changes = json.JSONDecoder().raw_decode(text[text.rindex('{\n  "changes"'):])[0]["changes"]
    reghook.runtime.wake()
    return changes


def test_a_passing_run_is_governed_once_under_five_re_sends(reghook, uc, names, mlflow_server):
    model, experiment = names
    run = log_churn_run(mlflow_server.url, experiment, good=True)
    events = [reghook.run_finished(run.run_id) for _ in range(5)]
    for event_id in events:
        assert reghook.wait_status(event_id, timeout_s=120)["status"] == "done"
    assert len(uc.requests_to(CREATE)) == 1
    tags = tags_of(uc, model, "1")
    assert tags["reghook.status"] == "passed" and tags["reghook.run_id"] == run.run_id
    assert aliases_of(uc, model) == {"staging": "1"}
    created_with = {t["key"] for t in uc.requests_to(CREATE)[0].json["tags"]}
    assert created_with == {"reghook.run_id", "reghook.event_id"}  # no verdict before READY


def test_a_version_ready_late_is_waited_out(reghook, uc, names, mlflow_server):
    model, experiment = names
    uc.ready_delay_s = 3
    run = log_churn_run(mlflow_server.url, experiment, good=True)
    event = reghook.wait_status(reghook.run_finished(run.run_id), timeout_s=120)
    assert event["status"] == "done"
    assert tags_of(uc, model, "1")["reghook.status"] == "passed"
    assert len(uc.requests_to(CREATE)) == 1


def test_a_model_without_a_signature_never_reaches_the_registry(reghook, uc, names,
                                                                 mlflow_server):
    _model, experiment = names
    run = log_churn_run(mlflow_server.url, experiment, good=True, with_signature=False)
    event = reghook.wait_status(reghook.run_finished(run.run_id), timeout_s=120)
    assert event["status"] == "done"
    assert "Unity Catalog requires a model signature" in event["reason"]
    assert uc.requests_to(CREATE) == [] and uc.requests_to("registered-models/create") == []
    assert [a["kind"] for a in event["actions"] if a["kind"] != "notified"] == ["rejected"]


def test_a_failing_run_is_registered_failed_and_never_staged(reghook, uc, names, mlflow_server):
    model, experiment = names
    run = log_churn_run(mlflow_server.url, experiment, good=False, seed=8)
    reghook.wait_status(reghook.run_finished(run.run_id), timeout_s=120)
    assert tags_of(uc, model, "1")["reghook.status"] == "failed"
    assert "staging" not in aliases_of(uc, model)


def test_a_failed_registration_fails_the_event_with_uc_s_message(reghook, uc, names,
                                                                  mlflow_server):
    _model, experiment = names
    uc.fail_registration = "the storage location is not reachable"
    run = log_churn_run(mlflow_server.url, experiment, good=True)
    event = reghook.wait_status(reghook.run_finished(run.run_id), "failed", timeout_s=120)
    assert "the storage location is not reachable" in event["last_error"]


def test_the_watch_governs_a_hand_registered_version_promotes_and_reverts(reghook, uc, names,
                                                                          mlflow_server):
    model, experiment = names
    good = log_churn_run(mlflow_server.url, experiment, good=True, seed=7)
    bad = log_churn_run(mlflow_server.url, experiment, good=False, seed=8)
    reghook.wait_status(reghook.run_finished(good.run_id), timeout_s=120)  # v1, by reghook
    assert watch_once(reghook) == []  # the first look takes a baseline
    source = uc.version(model, "1")["source"]
    v2 = uc.register_by_hand(model, run_id=bad.run_id, source=source)  # in the UI
    assert [c["type"] for c in watch_once(reghook)] == ["model_version.created"]
    wait_for(lambda: tags_of(uc, model, v2).get("reghook.status") == "failed", 60,
             "the hand-registered version to be governed")

    uc.set_tag(model, "1", "approval", "approved")  # a reviewer, in the UI
    watch_once(reghook)
    wait_for(lambda: aliases_of(uc, model).get("champion") == "1", 60, "the promotion")

    reghook.quiet()
    uc.set_alias(model, "champion", v2)  # someone moves champion onto the failed version
    assert "model_version_alias.created" in [c["type"] for c in watch_once(reghook)]
    wait_for(lambda: aliases_of(uc, model).get("champion") == "1", 60, "the guard's revert")
    reghook.quiet()
    watch_once(reghook)  # the revert itself, seen by the watch: recognised, nothing more
    reghook.quiet()
    assert aliases_of(uc, model)["champion"] == "1"
    assert len(uc.requests_to(CREATE)) == 1  # reghook registered v1 only


def test_a_worker_killed_mid_registration_leaves_one_version(uc, names, mlflow_server, tmp_path):
    model, experiment = names
    run = log_churn_run(mlflow_server.url, experiment, good=True)
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_yaml(model, experiment))
    database_url = f"sqlite:///{tmp_path / 'reghook.db'}"
    upgrade(database_url)
    store = Store.from_url(database_url)
    event_id, _ = store.ingest(source="events", event_type="run.finished", status="queued",
                               idempotency_key=uuid.uuid4().hex, headers={},
                               body=json.dumps({"type": "run.finished", "run_id": run.run_id}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGHOOK_")}
    env.update(REGHOOK_DATABASE_URL=database_url, REGHOOK_POLICY=str(policy),
               MLFLOW_TRACKING_URI=mlflow_server.url, REGHOOK_LEASE_S="2",
               REGHOOK_BACKOFF_BASE_S="0.2", REGHOOK_BACKOFF_MAX_S="0.5")
    root = Path(__file__).parents[2]
    killed = subprocess.run([sys.executable, "-m", "tests.support.crashing_worker", "registered"],
                            env=env, cwd=root, capture_output=True, text=True, timeout=180)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert len(uc.requests_to(CREATE)) == 1
    try:
        for _ in range(10):
            time.sleep(1)
            subprocess.run([sys.executable, "-m", "handler.cli", "worker", "--once"], env=env,
                           cwd=root, capture_output=True, timeout=180, check=True)
            if store.get_event(event_id)["status"] == "done":
                break
        assert store.get_event(event_id)["status"] == "done"
        assert len(uc.requests_to(CREATE)) == 1
        assert tags_of(uc, model, "1")["reghook.status"] == "passed"
        assert aliases_of(uc, model) == {"staging": "1"}
    finally:
        store.dispose()
