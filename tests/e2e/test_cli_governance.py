"""The registry-facing CLI against a real mlflow server: govern, promote, rollback, deprecate, history."""

from __future__ import annotations

import json

import mlflow
import pytest
from click.testing import CliRunner

from handler.cli import main
from tests.support.churn import log_churn_run

pytestmark = pytest.mark.mlflow


def invoke(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, [*args, "--json"])
    # Notifications on the log channel are JSON lines too: the command's own
    # output is the last, indented JSON document.
    start = result.output.rfind("\n{\n")
    document = result.output[start + 1:] if start >= 0 else result.output
    return result.exit_code, json.loads(document)


def test_govern_promote_rollback_history_from_the_command_line(cli_env, mlflow_server):
    model, experiment = cli_env.model, cli_env.experiment
    client = mlflow.MlflowClient(mlflow_server.url)
    first = log_churn_run(mlflow_server.url, experiment, good=True, seed=7)
    second = log_churn_run(mlflow_server.url, experiment, good=True, seed=8)

    code, result = invoke("govern", "--run-id", first.run_id)
    assert code == 0 and result["status"] == "done", result
    code, again = invoke("govern", "--run-id", first.run_id, "--model", model)
    assert code == 0 and again["status"] == "done"
    assert len(client.search_model_versions(f"run_id = '{first.run_id}'")) == 1

    code, result = invoke("promote", model, "1")
    assert code == 0 and result["status"] == "done", result
    assert client.get_model_version_by_alias(model, "champion").version == "1"

    assert invoke("govern", "--run-id", second.run_id)[0] == 0
    assert invoke("promote", model, "2")[0] == 0
    assert client.get_model_version_by_alias(model, "champion").version == "2"

    code, result = invoke("rollback", model, "--reason", "canary errors")
    assert code == 0 and result["status"] == "done", result
    assert client.get_model_version_by_alias(model, "champion").version == "1"
    assert client.get_model_version(model, "2").tags["reghook.status"] == "rolled_back"

    code, history = invoke("history", model)
    assert code == 0
    kinds = [entry["kind"] for entry in history["entries"]]
    assert kinds.count("promoted") == 2 and "rolled_back" in kinds
    champion_moves = [m["version"] for m in history["aliases"] if m["alias"] == "champion"]
    assert champion_moves == ["1", "2", "1"]


def test_promote_as_someone_and_deprecate_from_the_command_line(cli_env, mlflow_server):
    model, experiment = cli_env.model, cli_env.experiment
    client = mlflow.MlflowClient(mlflow_server.url)
    for seed in (9, 10):
        run = log_churn_run(mlflow_server.url, experiment, good=True, seed=seed)
        assert invoke("govern", "--run-id", run.run_id)[0] == 0
    code, result = invoke("promote", model, "1", "--as", "bob")
    assert code == 0 and result["status"] == "done", result
    assert [a["actor"] for a in result["actions"] if a["kind"] == "promoted"] == ["bob"]
    assert client.get_model_version(model, "1").tags["approval"] == "approved:bob"

    code, result = invoke("deprecate", model, "2", "--reason", "superseded by a retrain")
    assert code == 0 and result["status"] == "done", result
    tags = client.get_model_version(model, "2").tags
    assert tags["reghook.status"] == "deprecated" and tags["reghook.deprecated_at"]
    assert "staging" not in client.get_registered_model(model).aliases
    code, result = invoke("deprecate", model, "1", "--reason", "old")
    assert code == 1 and "holds champion" in result["error"]
    assert client.get_model_version_by_alias(model, "champion").version == "1"


def test_promoting_a_failed_version_exits_1_and_moves_nothing(cli_env, mlflow_server):
    model, experiment = cli_env.model, cli_env.experiment
    client = mlflow.MlflowClient(mlflow_server.url)
    bad = log_churn_run(mlflow_server.url, experiment, good=False)
    assert invoke("govern", "--run-id", bad.run_id)[0] == 0
    code, result = invoke("promote", model, "1")
    assert code == 1 and result["status"] == "failed"
    assert "did not pass" in result["error"]
    assert client.get_registered_model(model).aliases == {}


def test_sweep_queues_finished_runs_without_a_governed_version_once(cli_env, mlflow_server):
    experiment = cli_env.experiment
    run = log_churn_run(mlflow_server.url, experiment, good=True)
    code, result = invoke("sweep", "--since", "1h")
    assert code == 0
    assert [item["run_id"] for item in result["queued"]] == [run.run_id]
    assert invoke("sweep", "--since", "1h")[1]["queued"] == []


def test_policy_check_prints_every_error_with_its_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - name: m\n    gates:\n      metrics:\n        recall: {}\n"
                   "    notify: [nowhere]\n    register: sometimes\n")
    result = CliRunner().invoke(main, ["policy", "check", str(bad)])
    assert result.exit_code == 2
    assert "models.0.gates.metrics.recall" in result.output
    assert "models.0.register" in result.output


def test_govern_a_version_exits_by_its_verdict_for_a_deployment_job(cli_env, mlflow_server):
    model, experiment = cli_env.model, cli_env.experiment
    client = mlflow.MlflowClient(mlflow_server.url)
    client.create_registered_model(model)
    for good, seed in ((True, 7), (False, 8)):
        run = log_churn_run(mlflow_server.url, experiment, good=good, seed=seed)
        model_id = client.get_run(run.run_id).outputs.model_outputs[0].model_id
        client.create_model_version(model, f"models:/{model_id}", run_id=run.run_id,
                                    model_id=model_id)  # registered by hand

    code, passed = invoke("govern", "--model", model, "--version", "1")
    assert code == 0 and passed["status"] == "passed", passed
    assert client.get_model_version(model, "1").tags["reghook.status"] == "passed"
    assert invoke("govern", "--model", model, "--version", "1")[0] == 0  # its recorded verdict

    code, failed = invoke("govern", "--model", model, "--version", "2")
    assert code == 1 and failed["status"] == "failed"
    assert any(not g["passed"] and g["gate"] == "recall" for g in failed["gates"])


def test_govern_a_version_refuses_a_typo_with_exit_2_and_stores_nothing(cli_env, mlflow_server):
    model = cli_env.model
    runner = CliRunner()
    assert runner.invoke(main, ["govern", "--model", "nope", "--version", "1"]).exit_code == 2
    assert runner.invoke(main, ["govern", "--model", model, "--version", "99"]).exit_code == 2
    assert runner.invoke(main, ["govern", "--version", "1"]).exit_code == 2
    listed = json.loads(runner.invoke(main, ["events", "list", "--json"]).output)
    assert listed["events"] == []
