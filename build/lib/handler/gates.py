"""The gates: pure functions from facts about a candidate (and the champion) to a Verdict.

docs/policy.md#gates: a gate that cannot be evaluated fails with a clear detail, except
the champion comparisons, which pass with "no champion yet" when the alias
is unset. Metric gates come first, recall first among them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from handler.policy import Gates, MetricGate
from handler.verdict import GateResult, Verdict

NO_CHAMPION = "no champion yet"
# The champion floor is a difference of two decimals in binary floating point
# (0.51 - 0.04 == 0.47000000000000003): a candidate exactly at the floor must
# pass, so the comparison allows for the rounding of that subtraction.
FLOAT_SLACK = 1e-9


@dataclass(frozen=True)
class DatasetFact:
    """A training dataset as MLflow records it on the run."""

    name: str
    source: str
    schema: str


@dataclass(frozen=True)
class ModelFacts:
    """What validation looks at: the run's metrics, tags, datasets and the model's signature."""

    run_id: str
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    signature_inputs: dict[str, str] | None = None
    datasets: tuple[DatasetFact, ...] = ()
    version: str | None = None


def _bounds(gate: MetricGate) -> str:
    parts = []
    if gate.min is not None:
        parts.append(f">={gate.min:g}")
    if gate.max is not None:
        parts.append(f"<={gate.max:g}")
    return " and ".join(parts)


def metric_gate(name: str, gate: MetricGate, facts: ModelFacts) -> GateResult:
    """A run metric within its bounds."""
    expected = _bounds(gate)
    value = facts.metrics.get(name)
    if value is None:
        return GateResult(name, False, None, expected, f"metric {name!r} was not logged on the run")
    ok = (gate.min is None or value >= gate.min) and (gate.max is None or value <= gate.max)
    return GateResult(name, ok, value, expected)


def champion_gate(gates: Gates, facts: ModelFacts, champion: ModelFacts | None) -> GateResult:
    """The candidate does not regress more than ``max_regression`` against the champion."""
    spec = gates.champion
    assert spec is not None
    if champion is None:
        return GateResult("champion", True, facts.metrics.get(spec.metric), None, NO_CHAMPION)
    theirs, ours = champion.metrics.get(spec.metric), facts.metrics.get(spec.metric)
    if theirs is None:
        return GateResult("champion", False, ours, None,
                          f"champion v{champion.version} has no {spec.metric!r} metric")
    floor = theirs - spec.max_regression
    expected = f">={floor:.4g}"
    detail = f"{spec.metric} vs champion v{champion.version} {theirs:.4g} - {spec.max_regression:g}"
    if ours is None:
        return GateResult("champion", False, None, expected, f"metric {spec.metric!r} was not logged")
    return GateResult("champion", ours >= floor - FLOAT_SLACK, ours, expected, detail)


def signature_gate(facts: ModelFacts, champion: ModelFacts | None) -> GateResult:
    """Same input columns and types as the champion's model signature."""
    if champion is None:
        return GateResult("signature", True, facts.signature_inputs, None, NO_CHAMPION)
    if facts.signature_inputs is None:
        return GateResult("signature", False, None, champion.signature_inputs,
                          "the candidate model has no signature")
    if champion.signature_inputs is None:
        return GateResult("signature", False, facts.signature_inputs, None,
                          f"champion v{champion.version} has no signature to compare with")
    ours, theirs = facts.signature_inputs, champion.signature_inputs
    missing = sorted(set(theirs) - set(ours))
    extra = sorted(set(ours) - set(theirs))
    retyped = sorted(c for c in set(ours) & set(theirs) if ours[c] != theirs[c])
    problems = [f"{label}: {', '.join(cols)}" for label, cols in
                (("missing", missing), ("extra", extra), ("type changed", retyped)) if cols]
    detail = " / ".join(problems) or f"same {len(ours)} input columns as champion v{champion.version}"
    return GateResult("signature", not problems, ours, theirs, detail)


def dataset_gate(facts: ModelFacts, champion: ModelFacts | None) -> GateResult:
    """Trained on data with the champion's dataset name, source and schema."""
    def view(datasets: tuple[DatasetFact, ...]) -> list[dict[str, str]]:
        return [{"name": d.name, "source": d.source, "schema": d.schema} for d in datasets]

    if champion is None:
        return GateResult("dataset", True, view(facts.datasets), None, NO_CHAMPION)
    if not facts.datasets:
        return GateResult("dataset", False, [], view(champion.datasets),
                          "the run logged no training dataset")
    if not champion.datasets:
        return GateResult("dataset", False, view(facts.datasets), [],
                          f"champion v{champion.version}'s run logged no dataset to compare with")
    ours = {(d.name, d.source, d.schema) for d in facts.datasets}
    theirs = {(d.name, d.source, d.schema) for d in champion.datasets}
    if ours == theirs:
        return GateResult("dataset", True, view(facts.datasets), view(champion.datasets),
                          f"same dataset as champion v{champion.version}")
    differences = []
    our_names = {d.name: d for d in facts.datasets}
    for theirs_d in champion.datasets:
        mine = our_names.get(theirs_d.name)
        if mine is None:
            differences.append(f"dataset {theirs_d.name!r} not used")
            continue
        if mine.source != theirs_d.source:
            differences.append(f"{theirs_d.name}: source differs")
        if mine.schema != theirs_d.schema:
            differences.append(f"{theirs_d.name}: schema differs")
    extra = sorted(set(our_names) - {d.name for d in champion.datasets})
    differences += [f"new dataset {name!r}" for name in extra]
    return GateResult("dataset", False, view(facts.datasets), view(champion.datasets),
                      " / ".join(differences))


def required_tags_gate(required: list[str], facts: ModelFacts) -> GateResult:
    """Every required run tag is present and non-empty."""
    missing = [t for t in required if not facts.tags.get(t)]
    present = [t for t in required if facts.tags.get(t)]
    detail = f"missing: {', '.join(missing)}" if missing else ""
    return GateResult("required_tags", not missing, present, list(required), detail)


def ordered_metrics(gates: Gates) -> list[str]:
    """Metric gate names, recall first (the metric that matters most for imbalanced churn)."""
    names = list(gates.metrics)
    return sorted(names, key=lambda n: (n != "recall", names.index(n)))


def needs_champion(gates: Gates) -> str | None:
    """The alias whose holder the gates compare with, if any gate does."""
    if gates.champion is not None:
        return gates.champion.alias
    if gates.signature == "match_champion" or gates.dataset == "match_champion":
        return "champion"
    return None


def evaluate(gates: Gates, facts: ModelFacts, champion: ModelFacts | None) -> Verdict:
    """Apply every configured gate; the verdict passes only if all pass."""
    results = [metric_gate(name, gates.metrics[name], facts) for name in ordered_metrics(gates)]
    if gates.champion is not None:
        results.append(champion_gate(gates, facts, champion))
    if gates.signature == "match_champion":
        results.append(signature_gate(facts, champion))
    if gates.dataset == "match_champion":
        results.append(dataset_gate(facts, champion))
    if gates.required_tags:
        results.append(required_tags_gate(gates.required_tags, facts))
    return Verdict(tuple(results))
