"""Gates at exact equality: a bound is inclusive, and decimal arithmetic must not make it exclusive."""

from __future__ import annotations

from handler.gates import ModelFacts, champion_gate, metric_gate
from handler.governance.runs import govern_run
from handler.governance.tags import STATUS_TAG
from handler.policy import Gates, MetricGate
from tests.unit.governance.conftest import MODEL, make_world, policy


def facts(recall: float, version: str | None = None) -> ModelFacts:
    return ModelFacts(run_id="r", metrics={"recall": recall}, version=version)


def test_a_metric_exactly_at_its_min_or_max_passes():
    assert metric_gate("recall", MetricGate(min=0.7), facts(0.7)).passed
    assert metric_gate("recall", MetricGate(max=0.9), facts(0.9)).passed
    assert not metric_gate("recall", MetricGate(min=0.7, max=0.9), facts(0.9000001)).passed


def test_a_candidate_exactly_at_the_champion_floor_passes():
    # 0.51 - 0.04 is 0.47000000000000003 in binary floating point: a candidate
    # with recall 0.47 is exactly at the floor and must not fail by rounding.
    gates = Gates.model_validate({"champion": {"metric": "recall", "max_regression": 0.04}})
    result = champion_gate(gates, facts(0.47), facts(0.51, version="1"))
    assert result.passed, result
    assert not champion_gate(gates, facts(0.4699), facts(0.51, version="1")).passed


def test_a_candidate_at_the_floor_is_promoted_to_staging_end_to_end(tmp_path, template_db):
    gates = {"metrics": {"recall": {"min": 0.1}},
             "champion": {"alias": "champion", "metric": "recall", "max_regression": 0.04}}
    w = make_world(tmp_path, template_db, [policy(gates=gates)])
    w.run("r1", recall=0.51)
    govern_run(w.ctx, w.event_id(), "r1")
    w.registry.set_alias(MODEL, "champion", "1")
    w.run("r2", recall=0.47)
    govern_run(w.ctx, w.event_id(), "r2")
    assert w.registry.tags_of(MODEL, "2")[STATUS_TAG] == "passed"
