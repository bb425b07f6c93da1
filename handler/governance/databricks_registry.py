"""Databricks Workspace Model Registry webhooks (legacy registry, stages).

Transition requests are decided by the gates: a version that passes is
approved, one that fails is rejected with a comment naming each failed
gate, observed vs expected. Whether a request still needs a decision is
asked of Databricks itself (its open requests), not of reghook's memory: a
replay, a second subscription's copy of the same request, or a person who
decided first each find nothing open and do nothing, while a *new* request
for the same stage is decided again.
"""

from __future__ import annotations

import re
from typing import Any

from handler.governance.context import Context
from handler.governance.registry_events import on_tag_set
from handler.governance.results import Result, combine, done, ignored
from handler.governance.tags import RETIRED_STATUSES, STATUS_TAG
from handler.governance.validation import validate
from handler.governance.versions import converge
from handler.governance.writes import record
from handler.outcomes import Outcome
from handler.records import AuditEntry
from handler.verdict import GateResult, Verdict

GATED_STAGES = ("Staging", "Production")
STAGE_WRITE = "stage"  # own-write kind: a transition reghook approved (its echo is recognised)
COMMENT_LIMIT = 2000
_STAGE_IN_EVENT = re.compile(r"_TO_([A-Z]+)(?:_CREATED)?$")


def stage_of(event_type: str, payload: dict[str, Any]) -> str | None:
    """The target stage: ``to_stage``, else the ``_TO_<STAGE>`` part of the event name."""
    raw = payload.get("to_stage")
    if not raw:
        match = _STAGE_IN_EVENT.search(event_type)
        raw = match.group(1) if match else None
    return str(raw).strip().capitalize() if raw else None


def gate_clause(gate: GateResult) -> str:
    """``precision: observed 0.1234, expected >=0.15`` (plus the detail when there is one)."""
    def shown(value: Any) -> Any:
        if value is None:
            return "—"  # e.g. a metric that was not logged
        return f"{value:.4g}" if isinstance(value, float) else value

    text = f"{gate.gate}: observed {shown(gate.observed)}, expected {shown(gate.expected)}"
    return (text + f" ({gate.detail})" if gate.detail else text)[:400]


def decision_comment(version: str, verdict: Verdict, refusal: str | None) -> str:
    """The comment left on the transition request: the gates, or what failed and why."""
    if refusal is None and verdict.passed:
        text = f"reghook: v{version} passed the gates: {verdict.summary()}"
    elif refusal is not None:
        text = f"reghook: {refusal}"
    else:
        failed = verdict.failed_gates
        text = (f"reghook: v{version} failed {len(failed)} of {len(verdict.gates)} gate(s): "
                + "; ".join(gate_clause(g) for g in failed))
    return text if len(text) <= COMMENT_LIMIT else text[: COMMENT_LIMIT - 1] + "…"


def _decide(ctx: Context, event_id: str, model: str, version: str, stage: str,
            approve: bool, comment: str) -> bool:
    """Approve or reject the open request; False when it no longer exists."""
    workspace = ctx.databricks()
    if approve:
        # Noted first: Databricks may announce the transition before approve returns.
        ctx.ledger.note_own_write(model, version, STAGE_WRITE, stage, None, event_id)
    try:
        decide = workspace.approve_transition if approve else workspace.reject_transition
        decided = decide(model, version, stage, comment)
    except Exception:
        if approve:  # nothing moved: forget the note so a later real move is not mistaken
            ctx.ledger.consume_own_write(model, version, STAGE_WRITE, stage, None)
        raise
    if not decided and approve:
        ctx.ledger.consume_own_write(model, version, STAGE_WRITE, stage, None)
    return decided


def on_transition_request(ctx: Context, event_id: str, event_type: str, model: str,
                          version_number: str, payload: dict[str, Any]) -> Result:
    """Approve a transition to a gated stage if the version passes the gates, else reject it."""
    policy = ctx.policy(model)
    if policy is None:
        return ignored(f"no policy for model {model!r}")
    stage = stage_of(event_type, payload)
    if stage not in GATED_STAGES:
        # Archiving (or moving to None) is never a promotion: left to people.
        return ignored(f"transitions to {stage or 'an unknown stage'} are not gated")
    open_stages = ctx.databricks().open_transition_stages(model, version_number)
    if stage not in {s.capitalize() for s in open_stages}:
        return ignored(f"no open request to move v{version_number} to {stage}: decided already")

    version = ctx.registry.get_version(model, version_number)
    refusal, run, verdict = None, None, Verdict()
    if not version.run_id:
        refusal = f"v{version_number} has no MLflow run, so its gates cannot be evaluated"
    else:
        run = ctx.registry.get_run(version.run_id)
        verdict = validate(ctx, policy, run, version.source, version.version)
        converge(ctx, event_id, policy, run, version, verdict)  # tags, aliases, 'validated'
        if version.tags.get(STATUS_TAG) in RETIRED_STATUSES:
            refusal = f"v{version_number} was {version.tags[STATUS_TAG].replace('_', ' ')}"
    approve = refusal is None and verdict.passed
    comment = decision_comment(version_number, verdict, refusal)
    if not _decide(ctx, event_id, model, version_number, stage, approve, comment):
        record(ctx, policy, [AuditEntry("skipped", model, version_number, event_id, detail={
            "to_stage": stage, "reason": "the transition request no longer exists"})])
        return done(f"request to move v{version_number} to {stage} no longer exists: "
                    "decided already")

    kind = "transition_approved" if approve else "transition_rejected"
    extra = {"to_stage": stage, "from_stage": payload.get("from_stage")}
    record(ctx, policy, [AuditEntry(kind, model, version_number, event_id, detail={
        **extra, "comment": comment, "gates": verdict.to_json()})],
        outcome=Outcome(kind, model, version_number, event_id,
                        run_id=run.run_id if run else None,
                        run_url=ctx.registry.run_url(run.experiment_id, run.run_id) if run else None,
                        gates=verdict.gates, reason=comment,
                        extra={k: v for k, v in extra.items() if v}))
    return done(f"transition of v{version_number} to {stage} "
                f"{'approved' if approve else 'rejected'}")


def on_stage_transitioned(ctx: Context, event_id: str, event_type: str, model: str,
                          version: str, payload: dict[str, Any]) -> Result:
    """A version changed stage: recorded, and announced unless reghook's own approval caused it."""
    policy = ctx.policy(model)
    if policy is None:
        return ignored(f"no policy for model {model!r}")
    stage = stage_of(event_type, payload)
    detail = {"event": event_type, "from_stage": payload.get("from_stage"), "to_stage": stage}
    if stage and ctx.ledger.consume_own_write(model, version, STAGE_WRITE, stage, None):
        # The transition_approved message already said it.
        record(ctx, policy, [AuditEntry("recorded", model, version, event_id,
                                        detail={**detail, "echo": True})])
        return done(f"v{version} → {stage}: reghook's own approval")
    record(ctx, policy, [AuditEntry("recorded", model, version, event_id, actor="databricks",
                                    detail=detail)],
           outcome=Outcome("stage_transitioned", model, version, event_id, actor="databricks",
                           extra={k: v for k, v in detail.items() if k != "event" and v}))
    return done(f"recorded v{version} → {stage}")


def on_tags_set(ctx: Context, event_id: str, model: str, version: str,
                payload: dict[str, Any]) -> Result:
    """Each tag of ``MODEL_VERSION_TAG_SET`` as MLflow's ``model_version_tag.set``."""
    results = [on_tag_set(ctx, event_id, model, version, str(tag["key"]),
                          None if tag.get("value") is None else str(tag["value"]))
               for tag in payload.get("tags") or [] if isinstance(tag, dict) and tag.get("key")]
    return combine(results, "no tags in the event")


def on_audit_only(ctx: Context, event_id: str, event_type: str, model: str,
                  version: str | None, payload: dict[str, Any]) -> Result:
    """``REGISTERED_MODEL_CREATED`` / ``COMMENT_CREATED``: on the record only."""
    detail = {"event": event_type}
    if payload.get("comment"):
        detail["comment"] = str(payload["comment"])[:COMMENT_LIMIT]
    record(ctx, ctx.policy(model), [AuditEntry("recorded", model, version, event_id,
                                               actor="databricks", detail=detail)])
    return done("audit only")
