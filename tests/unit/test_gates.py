"""The gates and the verdict (docs/policy.md#gates): pure functions from facts to a Verdict, no I/O."""

from __future__ import annotations

import pytest

from handler.gates import (
    NO_CHAMPION,
    DatasetFact,
    ModelFacts,
    champion_gate,
    dataset_gate,
    evaluate,
    metric_gate,
    needs_champion,
    ordered_metrics,
    required_tags_gate,
    signature_gate,
)
from handler.policy import Gates, MetricGate
from handler.verdict import GateResult, Verdict

TRAIN = DatasetFact("churn_train", '{"uri": "s3://quickbite/churn/train.parquet"}', "schema-v1")
COLUMNS = {"tenure_months": "double", "orders_last_30d": "double", "discount_rate": "double"}


def facts(recall: float | None = 0.85, precision: float | None = 0.3, *,
          tags: dict[str, str] | None = None, signature: dict[str, str] | None = None,
          datasets: tuple[DatasetFact, ...] = (TRAIN,), version: str | None = None) -> ModelFacts:
    metrics = {k: v for k, v in (("recall", recall), ("precision", precision)) if v is not None}
    return ModelFacts(run_id="r1", metrics=metrics, tags={"git_commit": "3f2c1ab"} if tags is None else tags,
                      signature_inputs=dict(COLUMNS) if signature is None else signature,
                      datasets=datasets, version=version)


def champion(recall: float = 0.9, **kwargs) -> ModelFacts:
    return facts(recall, version="3", **kwargs)


def full_gates(**overrides) -> Gates:
    spec = {
        "metrics": {"precision": {"min": 0.15}, "recall": {"min": 0.70}},
        "champion": {"alias": "champion", "metric": "recall", "max_regression": 0.02},
        "signature": "match_champion",
        "dataset": "match_champion",
        "required_tags": ["git_commit"],
    }
    spec.update(overrides)
    return Gates.model_validate(spec)


# --- metrics ----------------------------------------------------------------------------


@pytest.mark.parametrize(("bounds", "value", "passed", "expected"), [
    ({"min": 0.7}, 0.81, True, ">=0.7"),
    ({"min": 0.7}, 0.7, True, ">=0.7"),
    ({"min": 0.7}, 0.69, False, ">=0.7"),
    ({"max": 0.3}, 0.31, False, "<=0.3"),
    ({"min": 0.1, "max": 0.9}, 0.5, True, ">=0.1 and <=0.9"),
    ({"min": 0.1, "max": 0.9}, 0.95, False, ">=0.1 and <=0.9"),
])
def test_metric_gate_checks_the_run_metric_against_its_bounds(bounds, value, passed, expected):
    result = metric_gate("recall", MetricGate(**bounds), facts(recall=value))
    assert (result.passed, result.observed, result.expected) == (passed, value, expected)


def test_metric_gate_fails_when_the_metric_was_not_logged():
    result = metric_gate("recall", MetricGate(min=0.7), facts(recall=None))
    assert not result.passed
    assert result.observed is None
    assert result.detail == "metric 'recall' was not logged on the run"


def test_recall_is_evaluated_first_whatever_the_policy_order():
    gates = full_gates(metrics={"precision": {"min": 0.15}, "f1": {"min": 0.2},
                                "recall": {"min": 0.7}})
    assert ordered_metrics(gates) == ["recall", "precision", "f1"]
    verdict = evaluate(gates, facts(), None)
    assert [g.gate for g in verdict.gates] == [
        "recall", "precision", "f1", "champion", "signature", "dataset", "required_tags"]


# --- champion ---------------------------------------------------------------------------


def test_champion_gate_passes_with_no_champion_yet():
    result = champion_gate(full_gates(), facts(recall=0.71), None)
    assert (result.passed, result.detail, result.observed) == (True, NO_CHAMPION, 0.71)


def test_champion_gate_passes_within_max_regression():
    result = champion_gate(full_gates(), facts(recall=0.885), champion(recall=0.9))
    assert result.passed
    assert result.expected == ">=0.88"
    assert result.detail == "recall vs champion v3 0.9 - 0.02"


def test_champion_gate_fails_beyond_max_regression():
    result = champion_gate(full_gates(), facts(recall=0.85), champion(recall=0.9))
    assert not result.passed
    assert (result.observed, result.expected) == (0.85, ">=0.88")


def test_champion_gate_fails_when_the_champion_lacks_the_metric():
    result = champion_gate(full_gates(), facts(), champion(recall=None))  # type: ignore[arg-type]
    assert not result.passed
    assert result.detail == "champion v3 has no 'recall' metric"


def test_champion_gate_fails_when_the_candidate_lacks_the_metric():
    result = champion_gate(full_gates(), facts(recall=None), champion())
    assert not result.passed
    assert result.detail == "metric 'recall' was not logged"


# --- signature --------------------------------------------------------------------------


def test_signature_gate_passes_with_no_champion_yet():
    result = signature_gate(facts(), None)
    assert (result.passed, result.detail) == (True, NO_CHAMPION)


def test_signature_gate_passes_on_the_same_columns_and_types():
    result = signature_gate(facts(), champion())
    assert result.passed
    assert result.detail == "same 3 input columns as champion v3"


def test_signature_gate_names_missing_extra_and_retyped_columns():
    ours = {"tenure_months": "long", "orders_last_30d": "double", "loyalty_points": "double"}
    result = signature_gate(facts(signature=ours), champion())
    assert not result.passed
    assert result.detail == ("missing: discount_rate / extra: loyalty_points / "
                             "type changed: tenure_months")


def test_signature_gate_fails_when_the_candidate_has_no_signature():
    candidate = ModelFacts(run_id="r1", signature_inputs=None)
    result = signature_gate(candidate, champion())
    assert not result.passed
    assert result.detail == "the candidate model has no signature"


def test_signature_gate_fails_when_the_champion_has_no_signature():
    holder = ModelFacts(run_id="r0", signature_inputs=None, version="3")
    result = signature_gate(facts(), holder)
    assert not result.passed
    assert result.detail == "champion v3 has no signature to compare with"


# --- dataset ----------------------------------------------------------------------------


def test_dataset_gate_passes_with_no_champion_yet():
    assert dataset_gate(facts(), None).detail == NO_CHAMPION
    assert dataset_gate(facts(datasets=()), None).passed


def test_dataset_gate_passes_on_the_same_name_source_and_schema():
    result = dataset_gate(facts(), champion())
    assert result.passed
    assert result.detail == "same dataset as champion v3"


@pytest.mark.parametrize(("ours", "detail"), [
    ((DatasetFact("churn_train", "s3://elsewhere", "schema-v1"),), "churn_train: source differs"),
    ((DatasetFact("churn_train", TRAIN.source, "schema-v2"),), "churn_train: schema differs"),
    ((DatasetFact("churn_train", "s3://elsewhere", "schema-v2"),),
     "churn_train: source differs / churn_train: schema differs"),
    ((DatasetFact("churn_2025", TRAIN.source, "schema-v1"),),
     "dataset 'churn_train' not used / new dataset 'churn_2025'"),
    ((TRAIN, DatasetFact("extra", "s3://x", "s")), "new dataset 'extra'"),
])
def test_dataset_gate_names_what_differs_from_the_champion(ours, detail):
    result = dataset_gate(facts(datasets=ours), champion())
    assert (result.passed, result.detail) == (False, detail)


def test_dataset_gate_fails_when_the_run_logged_no_dataset():
    result = dataset_gate(facts(datasets=()), champion())
    assert (result.passed, result.detail) == (False, "the run logged no training dataset")


def test_dataset_gate_fails_when_the_champion_logged_no_dataset():
    result = dataset_gate(facts(), champion(datasets=()))
    assert (result.passed, result.detail) == (
        False, "champion v3's run logged no dataset to compare with")


# --- required tags ----------------------------------------------------------------------


def test_required_tags_gate_passes_when_every_tag_is_present():
    result = required_tags_gate(["git_commit"], facts())
    assert (result.passed, result.observed, result.expected) == (True, ["git_commit"], ["git_commit"])


def test_required_tags_gate_fails_on_a_missing_or_empty_tag():
    result = required_tags_gate(["git_commit", "owner"], facts(tags={"owner": ""}))
    assert not result.passed
    assert result.detail == "missing: git_commit, owner"


# --- which alias is compared --------------------------------------------------------------


def test_needs_champion_names_the_compared_alias():
    assert needs_champion(full_gates()) == "champion"
    assert needs_champion(full_gates(champion={"alias": "prod", "metric": "recall"})) == "prod"
    assert needs_champion(full_gates(champion=None, dataset="off")) == "champion"  # signature
    assert needs_champion(Gates(metrics={"recall": MetricGate(min=0.7)})) is None


# --- the verdict ------------------------------------------------------------------------


def test_verdict_passes_only_if_every_gate_passes():
    passing = evaluate(full_gates(), facts(), champion(recall=0.86))
    assert (passing.passed, passing.status, passing.failed_gates) == (True, "passed", [])
    failing = evaluate(full_gates(), facts(tags={}), champion(recall=0.86))
    assert (failing.passed, failing.status) == (False, "failed")
    assert [g.gate for g in failing.failed_gates] == ["required_tags"]


def test_no_champion_yet_passes_every_comparison():
    verdict = evaluate(full_gates(), facts(signature={}, datasets=()), None)
    assert verdict.passed
    assert [g.detail for g in verdict.gates if g.gate in ("champion", "signature", "dataset")] == [
        NO_CHAMPION] * 3


def test_no_gates_is_a_pass():
    verdict = evaluate(Gates(), facts(), None)
    assert verdict.passed
    assert verdict.summary() == "no gates"


def test_summary_is_one_line_with_observed_vs_expected_for_metrics():
    verdict = Verdict((GateResult("recall", True, 0.81, ">=0.7"),
                       GateResult("precision", False, 0.12, ">=0.15")))
    assert verdict.summary() == "recall 0.81>=0.7 ok; precision 0.12>=0.15 FAIL"


def test_summary_of_a_whole_policy():
    verdict = evaluate(full_gates(), facts(recall=0.8123456, precision=0.12), champion(recall=0.9))
    assert verdict.summary() == (
        "recall 0.8123>=0.7 ok; precision 0.12>=0.15 FAIL; champion 0.8123>=0.88 FAIL; "
        "signature ok (same 3 input columns as champion v3); "
        "dataset ok (same dataset as champion v3); required_tags ok")


def test_summary_is_cut_to_fit_a_tag_value():
    verdict = Verdict(tuple(GateResult(f"metric_{i}", True, 0.5, ">=0.1") for i in range(400)))
    summary = verdict.summary(limit=100)
    assert len(summary) == 100
    assert summary.endswith("…")


def test_gate_results_serialise_for_the_audit_trail():
    verdict = evaluate(full_gates(), facts(recall=0.5), None)
    assert verdict.to_json()[0] == {"gate": "recall", "passed": False, "observed": 0.5,
                                    "expected": ">=0.7", "detail": ""}
