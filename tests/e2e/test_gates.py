"""Every gate of docs/policy.md#gates, passing and failing, on real churn models in a real MLflow registry.

Each test governs one run with reghook running beside the session's mlflow
server and then reads what reghook wrote (tags, aliases) back from the
registry. Runs are logged once per module where tests can share them.

Seeds were chosen from the churn data (``tests/support/churn.py``):
balanced training gives recall 1.0 for seeds 8 and 13 and 0.78 for seed 1;
unweighted training (``good=False``) gives 0.5 for seed 7.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import mlflow
import pytest

from tests.support.churn import FEATURES, LoggedRun, log_churn_run
from tests.support.harness import policy_yaml, running_reghook, versions_of_run, wait_for

pytestmark = pytest.mark.mlflow

CHAMPION_SEED = 8  # recall 1.0
PEER_SEED = 13  # recall 1.0: level with the champion
# recall 1.0 on data no other run in the module logged: MLflow keeps one dataset
# per (experiment, name, digest of the data), so re-logging the same rows with a
# new source silently keeps the first source.
OTHER_DATA_SEED = 29
WORSE_SEED = 1  # recall 0.78: above the 0.70 floor, more than 0.02 below the champion
PASS_TAGS = {"deployment_mode": "batch_inference_only", "known_limitation": "extreme_class_imbalance"}


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def client(mlflow_server):
    return mlflow.MlflowClient(mlflow_server.url)


@pytest.fixture(scope="module")
def plain(mlflow_server) -> SimpleNamespace:
    """An experiment with one good and one bad run, for models that have no champion."""
    experiment = unique("/Shared/gates_plain")
    return SimpleNamespace(
        experiment=experiment,
        good=log_churn_run(mlflow_server.url, experiment, good=True),
        bad=log_churn_run(mlflow_server.url, experiment, good=False),
    )


@pytest.fixture(scope="module")
def champion(mlflow_server, client) -> SimpleNamespace:
    """A model whose ``champion`` alias was set by hand, before any reghook subscribed.

    Set before reghook listens, so the promotion guard never sees the move:
    these tests are about the comparison gates, not about the guard.
    """
    model, experiment = unique("churn_champion"), unique("/Shared/gates_champion")
    run = log_churn_run(mlflow_server.url, experiment, good=True, seed=CHAMPION_SEED)
    model_id = client.get_run(run.run_id).outputs.model_outputs[0].model_id
    client.create_registered_model(model)
    version = client.create_model_version(model, f"models:/{model_id}", run_id=run.run_id,
                                          model_id=model_id)
    client.set_registered_model_alias(model, "champion", version.version)
    return SimpleNamespace(model=model, experiment=experiment, run=run, version=version.version)


def govern(reghook, run_id: str, model: str | None = None, **wait) -> dict:
    """Queue run.finished for a run and wait until reghook has finished with it."""
    return reghook.wait_status(reghook.run_finished(run_id, model), **wait)


def only_version(client, model: str, run_id: str):
    versions = versions_of_run(client, model, run_id)
    assert len(versions) == 1, f"expected one version of {model} for run {run_id}: {versions}"
    return versions[0]


def alias_holder(client, model: str, alias: str) -> str | None:
    aliases = client.get_registered_model(model).aliases
    return aliases.get(alias)


GATE_ORDER = ("recall", "precision", "champion", "signature", "dataset", "required_tags")


def gate_clauses(version) -> dict[str, str]:
    """The ``reghook.gates`` summary split into its clauses, by gate name.

    Clauses are separated by "; " and a gate's own detail never contains it
    (its parts are joined with " / "), so a plain split is unambiguous.
    """
    clauses = version.tags["reghook.gates"].split("; ")
    named = {clause.split(" ", 1)[0]: clause for clause in clauses}
    assert list(named) == list(GATE_ORDER), clauses
    return named


def assert_governance_tags(version, event_id: str, run: LoggedRun, status: str) -> None:
    tags = version.tags
    assert tags["reghook.status"] == status
    assert tags["reghook.event_id"] == event_id
    assert tags["reghook.run_id"] == run.run_id
    validated = datetime.fromisoformat(tags["reghook.validated_at"].replace("Z", "+00:00"))
    assert tags["reghook.validated_at"].endswith("Z") and validated.tzinfo is not None
    assert abs((datetime.now(UTC) - validated).total_seconds()) < 600
    if status == "passed":
        assert {k: tags.get(k) for k in PASS_TAGS} == PASS_TAGS
    else:
        assert tags["deployment_mode"] == "blocked"
        assert "known_limitation" not in tags


# --- no champion ------------------------------------------------------------------------


def test_passing_run_without_champion_passes_comparisons_with_no_champion_yet(
        mlflow_server, client, plain, tmp_path, monkeypatch):
    model = unique("churn")
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, plain.experiment),
                         monkeypatch=monkeypatch) as reghook:
        event = govern(reghook, plain.good.run_id)
        assert (event["status"], event["reason"]) == ("done", "v1 passed")
        version = only_version(client, model, plain.good.run_id)
        assert_governance_tags(version, event["id"], plain.good, "passed")
        assert version.tags["reghook.gates"] == (
            f"recall {plain.good.recall:.4g}>=0.7 ok; precision {plain.good.precision:.4g}>=0.15 ok; "
            "champion ok (no champion yet); signature ok (no champion yet); "
            "dataset ok (no champion yet); required_tags ok")
        assert alias_holder(client, model, "staging") == version.version
        assert alias_holder(client, model, "champion") is None  # the protected alias waits for approval
        kinds = [e["kind"] for e in reghook.store.audit_trail(model)
                 if e["actor"] == "reghook" and e["kind"] != "notified"]
        assert kinds == ["registered", "validated", "tagged", "alias_set"]
        assert [m["outcome"] for m in reghook.store.list_outbox(model=model)] == ["registered"]


def test_failing_run_is_tagged_failed_recall_first_and_never_staged(
        mlflow_server, client, plain, tmp_path, monkeypatch):
    model = unique("churn")
    # The policy file lists precision before recall (YAML keys are sorted): recall still leads.
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, plain.experiment),
                         monkeypatch=monkeypatch) as reghook:
        event = govern(reghook, plain.bad.run_id)
        assert (event["status"], event["reason"]) == ("done", "v1 failed")
        version = only_version(client, model, plain.bad.run_id)
        assert_governance_tags(version, event["id"], plain.bad, "failed")
        assert plain.bad.recall < 0.7
        assert version.tags["reghook.gates"].startswith(
            f"recall {plain.bad.recall:.4g}>=0.7 FAIL; precision ")
        assert alias_holder(client, model, "staging") is None
        assert list(version.aliases) == []
        assert [m["outcome"] for m in reghook.store.list_outbox(model=model)] == ["rejected"]


def test_register_passing_leaves_failing_run_unregistered_and_audits_rejection(
        mlflow_server, client, plain, tmp_path, monkeypatch):
    model = unique("churn")
    policy = policy_yaml(model, plain.experiment, register="passing")
    with running_reghook(tmp_path, mlflow_server.url, policy, monkeypatch=monkeypatch) as reghook:
        event = govern(reghook, plain.bad.run_id)
        assert event["status"] == "done"
        assert "not registered" in event["reason"]
        assert versions_of_run(client, model, plain.bad.run_id) == []
        rejected = [e for e in reghook.store.audit_trail(model) if e["kind"] == "rejected"]
        assert len(rejected) == 1
        assert rejected[0]["version"] is None
        assert rejected[0]["detail"]["run_id"] == plain.bad.run_id
        assert rejected[0]["detail"]["registered"] is False
        first_gate = rejected[0]["detail"]["gates"][0]
        assert (first_gate["gate"], first_gate["passed"]) == ("recall", False)
        assert [(m["outcome"], m["version"]) for m in reghook.store.list_outbox(model=model)] == [
            ("rejected", None)]


def test_register_passing_registers_a_passing_run(mlflow_server, client, plain, tmp_path,
                                                  monkeypatch):
    model = unique("churn")
    policy = policy_yaml(model, plain.experiment, register="passing")
    with running_reghook(tmp_path, mlflow_server.url, policy, monkeypatch=monkeypatch) as reghook:
        event = govern(reghook, plain.good.run_id)
        version = only_version(client, model, plain.good.run_id)
        assert_governance_tags(version, event["id"], plain.good, "passed")
        assert alias_holder(client, model, "staging") == version.version


# --- against a champion -----------------------------------------------------------------


def govern_against_champion(mlflow_server, client, champion, tmp_path, monkeypatch, **run_options):
    """Log a candidate run in the champion's experiment, govern it, return (event, version, run)."""
    run = log_churn_run(mlflow_server.url, champion.experiment, good=True, **run_options)
    with running_reghook(tmp_path, mlflow_server.url,
                         policy_yaml(champion.model, champion.experiment),
                         monkeypatch=monkeypatch) as reghook:
        event = govern(reghook, run.run_id)
        assert event["status"] == "done", event
    version = only_version(client, champion.model, run.run_id)
    # Whatever the verdict, the champion alias is never moved by validation.
    assert alias_holder(client, champion.model, "champion") == champion.version
    return event, version, run


def test_candidate_level_with_champion_passes_champion_signature_and_dataset_gates(
        mlflow_server, client, champion, tmp_path, monkeypatch):
    event, version, run = govern_against_champion(mlflow_server, client, champion, tmp_path,
                                                  monkeypatch, seed=PEER_SEED)
    assert_governance_tags(version, event["id"], run, "passed")
    clauses = gate_clauses(version)
    assert clauses["champion"] == f"champion {run.recall:.4g}>={champion.run.recall - 0.02:.4g} ok"
    assert clauses["signature"] == (
        f"signature ok (same {len(FEATURES)} input columns as champion v{champion.version})")
    assert clauses["dataset"] == f"dataset ok (same dataset as champion v{champion.version})"
    assert alias_holder(client, champion.model, "staging") == version.version


def test_candidate_regressing_more_than_max_regression_fails_champion_gate(
        mlflow_server, client, champion, tmp_path, monkeypatch):
    event, version, run = govern_against_champion(mlflow_server, client, champion, tmp_path,
                                                  monkeypatch, seed=WORSE_SEED)
    assert 0.7 <= run.recall < champion.run.recall - 0.02  # passes the thresholds, not the champion
    assert_governance_tags(version, event["id"], run, "failed")
    clauses = gate_clauses(version)
    assert clauses["recall"].endswith(" ok") and clauses["precision"].endswith(" ok")
    assert clauses["champion"] == f"champion {run.recall:.4g}>={champion.run.recall - 0.02:.4g} FAIL"
    assert clauses["signature"].startswith("signature ok")
    assert "staging" not in version.aliases


def test_candidate_with_other_feature_columns_fails_signature_gate(
        mlflow_server, client, champion, tmp_path, monkeypatch):
    features = [*FEATURES[:-1], "loyalty_points"]
    event, version, run = govern_against_champion(mlflow_server, client, champion, tmp_path,
                                                  monkeypatch, seed=PEER_SEED, features=features)
    assert_governance_tags(version, event["id"], run, "failed")
    clauses = gate_clauses(version)
    assert clauses["champion"].endswith(" ok")
    assert clauses["signature"] == (
        f"signature FAIL (missing: {FEATURES[-1]} / extra: loyalty_points)")
    assert "staging" not in version.aliases


def test_candidate_trained_on_other_data_fails_dataset_gate(
        mlflow_server, client, champion, tmp_path, monkeypatch):
    event, version, run = govern_against_champion(
        mlflow_server, client, champion, tmp_path, monkeypatch, seed=OTHER_DATA_SEED,
        dataset_source="s3://quickbite/churn/train-unreviewed.parquet")
    assert_governance_tags(version, event["id"], run, "failed")
    clauses = gate_clauses(version)
    assert clauses["champion"].endswith(" ok")
    assert clauses["signature"].startswith("signature ok")
    assert clauses["dataset"] == "dataset FAIL (churn_train: source differs)"
    assert "staging" not in version.aliases


def test_run_without_required_tag_fails_required_tags_gate(
        mlflow_server, client, champion, tmp_path, monkeypatch):
    event, version, run = govern_against_champion(mlflow_server, client, champion, tmp_path,
                                                  monkeypatch, seed=PEER_SEED, git_commit=None)
    assert_governance_tags(version, event["id"], run, "failed")
    clauses = gate_clauses(version)
    assert all(clauses[g].endswith(" ok") for g in ("recall", "precision", "champion"))
    assert all(clauses[g].startswith(f"{g} ok") for g in ("signature", "dataset"))
    assert clauses["required_tags"] == "required_tags FAIL (missing: git_commit)"
    assert "staging" not in version.aliases


# --- run states -------------------------------------------------------------------------


def test_running_run_is_retried_until_it_finishes(mlflow_server, client, tmp_path, monkeypatch):
    model, experiment = unique("churn"), unique("/Shared/gates_running")
    run = log_churn_run(mlflow_server.url, experiment, good=True, status="RUNNING")
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, experiment),
                         monkeypatch=monkeypatch, max_attempts=100) as reghook:
        event_id = reghook.run_finished(run.run_id)
        waiting = wait_for(lambda: (e := reghook.event(event_id))["attempts"] >= 3 and e, 60,
                           "three attempts on the running run")
        assert waiting["status"] in ("queued", "processing")
        assert "still RUNNING" in waiting["last_error"]
        assert versions_of_run(client, model, run.run_id) == []

        client.set_terminated(run.run_id)
        event = reghook.wait_status(event_id)
        assert event["status"] == "done"
        assert all(a["outcome"] == "retry" for a in event["attempt_log"][:-1])
        version = only_version(client, model, run.run_id)
        assert_governance_tags(version, event_id, run, "passed")
        assert alias_holder(client, model, "staging") == version.version


def test_failed_run_is_ignored_with_its_status_as_reason(mlflow_server, client, tmp_path,
                                                         monkeypatch):
    model, experiment = unique("churn"), unique("/Shared/gates_failed")
    run = log_churn_run(mlflow_server.url, experiment, status="FAILED", log_model=False)
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, experiment),
                         monkeypatch=monkeypatch) as reghook:
        event = govern(reghook, run.run_id)
        assert (event["status"], event["reason"]) == ("ignored", f"run {run.run_id} is FAILED")
        assert event["attempts"] == 1
        assert client.search_registered_models(f"name = '{model}'") == []


def test_replayed_old_passing_event_never_takes_staging_back_from_a_newer_version(
        mlflow_server, client, plain, tmp_path, monkeypatch):
    model = unique("churn")
    newer = log_churn_run(mlflow_server.url, plain.experiment, good=True, seed=PEER_SEED)
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, plain.experiment),
                         monkeypatch=monkeypatch) as reghook:
        old = govern(reghook, plain.good.run_id)
        assert govern(reghook, newer.run_id)["reason"] == "v2 passed"
        assert alias_holder(client, model, "staging") == "2"

        replay_id = reghook.store.replay(old["id"])
        reghook.runtime.wake()
        replayed = reghook.wait_status(replay_id)
        assert (replayed["status"], replayed["reason"]) == ("done", "v1 passed")
        assert alias_holder(client, model, "staging") == "2"
        assert [(m["version"], m["previous_version"]) for m in reghook.store.alias_moves(model)] == [
            ("1", None), ("2", "1")]
