"""The words of every notification, shared by all channels — pure functions of an Outcome.

The headline comes first and says it all for a person scanning a channel
(``✅ churn v3 registered — passed all 4 gates; staging → v3``); the other
helpers word the detail: each gate as observed vs expected, alias changes,
links into the MLflow UI, the replay hint.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from handler.logs import redact
from handler.outcomes import AliasChange, Outcome
from handler.verdict import GateResult

# kind → (emoji, what happened, tone). Unknown kinds get a generic line.
_STYLE: dict[str, tuple[str, str, str]] = {
    "registered": ("✅", "registered", "good"),
    "rejected": ("❌", "rejected", "bad"),
    "promoted": ("🚀", "promoted", "good"),
    "guard_reverted": ("🛡️", "alias move reverted", "warning"),
    "rolled_back": ("⏪", "rolled back", "warning"),
    "failed": ("🔥", "processing failed", "bad"),
    "approval_refused": ("⛔", "approval refused", "warning"),
    "approval_rejected": ("🚫", "approval rejected", "warning"),
    "alias_alert": ("⚠️", "alias set without approval", "warning"),
    "transition_approved": ("✅", "stage transition approved", "good"),
    "transition_rejected": ("❌", "stage transition rejected", "bad"),
    "stage_transitioned": ("🔀", "changed stage", "neutral"),
    "job_failed": ("🔥", "training job failed", "bad"),
    "deprecated": ("🗄️", "deprecated", "neutral"),
}


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def style(kind: str) -> tuple[str, str, str]:
    """(emoji, phrase, tone) for an outcome kind, with a generic fallback."""
    return _STYLE.get(kind, ("🔔", kind.replace("_", " "), "neutral"))


def public(outcome: Outcome) -> Outcome:
    """The outcome with URLs scrubbed from free text (error reasons may quote them)."""
    gates = tuple(replace(g, detail=redact(g.detail)) if g.detail else g for g in outcome.gates)
    reason = redact(outcome.reason) if outcome.reason else outcome.reason
    return replace(outcome, reason=reason, gates=gates)


def value_text(value: Any) -> str:
    """A gate's observed or expected value as a short string."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, list | tuple) and all(isinstance(v, int | float | str) for v in value):
        return ", ".join(value_text(v) for v in value) if value else "none"
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def gate_label(gate: GateResult) -> str:
    """``✅ recall`` or ``❌ precision``."""
    return f"{'✅' if gate.passed else '❌'} {gate.gate}"


def gate_observation(gate: GateResult) -> str:
    """``observed 0.81, expected >=0.70`` (plus the detail, if any)."""
    if gate.observed is None and gate.expected is None:  # e.g. "no champion yet"
        return gate.detail or ("ok" if gate.passed else "failed")
    text = (f"observed {clip(value_text(gate.observed), 80)}, "
            f"expected {clip(value_text(gate.expected), 80)}")
    return text + (f" — {gate.detail}" if gate.detail else "")


def gate_text(gate: GateResult) -> str:
    """``✅ recall: observed 0.81, expected >=0.70`` — one gate on one line."""
    return f"{gate_label(gate)}: {gate_observation(gate)}"


def alias_text(change: AliasChange) -> str:
    """``staging → v3``, ``champion → v2 (was v3)``, ``champion removed (was v3)``."""
    was = f" (was v{change.from_version})" if change.from_version else ""
    if change.to_version is None:
        return f"{change.alias} removed{was}"
    return f"{change.alias} → v{change.to_version}{was}"


def subject(outcome: Outcome) -> str:
    """What the message is about: ``model v3``, or the run when there is no version."""
    if outcome.version:
        return f"{outcome.model} v{outcome.version}"
    if outcome.run_id:
        return f"{outcome.model} run {outcome.run_id[:8]}".strip()
    job = outcome.extra.get("job_name")
    if job:
        return f"{outcome.model} job {job}".strip()
    return outcome.model or "reghook"


def gates_summary(gates: tuple[GateResult, ...]) -> str:
    """``passed all 4 gates`` or ``failed 2 of 5 gates: recall, precision``."""
    failed = [g.gate for g in gates if not g.passed]
    if not failed:
        return f"passed all {len(gates)} gates" if len(gates) > 1 else "passed its gate"
    names = ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    return f"failed {len(failed)} of {len(gates)} gates: {names}"


def _phrase(outcome: Outcome, phrase: str) -> str:
    to_stage, from_stage = outcome.extra.get("to_stage"), outcome.extra.get("from_stage")
    if outcome.kind in ("transition_approved", "transition_rejected") and to_stage:
        verdict = "approved" if outcome.kind == "transition_approved" else "rejected"
        return f"transition to {to_stage} {verdict}"
    if outcome.kind == "stage_transitioned" and to_stage:
        return f"moved to {to_stage}" + (f" (from {from_stage})" if from_stage else "")
    if outcome.kind == "job_failed" and outcome.extra.get("job_name"):
        return "failed"  # the subject already says "job <name>"
    return phrase


def headline(outcome: Outcome) -> str:
    """The one line that says it all: emoji, subject, what happened, then why.

    Pass a :func:`public` outcome when the line leaves the process.
    """
    emoji, phrase, _ = style(outcome.kind)
    parts = []
    if outcome.gates:
        parts.append(gates_summary(outcome.gates))
    parts.extend(alias_text(a) for a in outcome.alias_changes)
    if outcome.reason and not outcome.gates:
        parts.append(clip(" ".join(outcome.reason.split()), 120))
    head = f"{emoji} {subject(outcome)} {_phrase(outcome, phrase)}"
    return clip(head + (" — " + "; ".join(parts) if parts else ""), 400)


def run_link(outcome: Outcome, mlflow_ui_url: str | None) -> str | None:
    """The run's page in the MLflow UI (the outcome's own link wins)."""
    if outcome.run_url:
        return outcome.run_url
    if not (mlflow_ui_url and outcome.run_id):
        return None
    base = mlflow_ui_url.rstrip("/")
    run = quote(outcome.run_id, safe="")
    experiment = outcome.extra.get("experiment_id")
    if experiment:
        return f"{base}/#/experiments/{quote(str(experiment), safe='')}/runs/{run}"
    return f"{base}/#/runs/{run}"  # the UI redirects to the run's experiment


def version_link(outcome: Outcome, mlflow_ui_url: str | None) -> str | None:
    """The model version's page in the MLflow UI."""
    if not (mlflow_ui_url and outcome.version and outcome.model):
        return None
    return (f"{mlflow_ui_url.rstrip('/')}/#/models/{quote(outcome.model, safe='')}"
            f"/versions/{quote(outcome.version, safe='')}")


def facts(outcome: Outcome) -> list[tuple[str, str]]:
    """Extra facts worth a line: stage moves, the job, the actor; scalar extras."""
    result = [(key.replace("_", " ").capitalize(), clip(value_text(value), 300))
              for key, value in sorted(outcome.extra.items())
              if key != "experiment_id" and isinstance(value, str | int | float | bool)]
    if outcome.actor and outcome.actor != "reghook":
        result.insert(0, ("By", clip(outcome.actor, 200)))
    return result[:4]


def replay_hint(outcome: Outcome) -> str:
    """How an operator replays the event behind this message."""
    return f"reghook replay {outcome.event_id}"
