"""Databricks sources: Workspace Model Registry webhooks (stages); Jobs notifications' entry.

Transition requests are decided by the gates (SPEC §2.1, legacy registry):
a version that passes is approved, one that fails is rejected with a
comment naming each failed gate, observed vs expected. Whether a request
still needs a decision is asked of Databricks itself (its open requests),
not of reghook's memory: a replay, a second subscription's copy of the same
request, or a person who decided first each find nothing open and do
nothing, while a *new* request for the same stage is decided again.

Job notifications are handled in :mod:`handler.governance.databricks_jobs`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

from handler.errors import PermanentError
from handler.governance import Governor
from handler.governance.core import STATUS_TAG, Result, done, ignored
from handler.outcomes import Outcome
from handler.records import AuditEntry
from handler.verdict import GateResult, Verdict

if TYPE_CHECKING:
    from handler.databricks import JobRunFacts

GATED_STAGES = ("Staging", "Production")
STAGE_WRITE = "stage"  # own-write kind: a transition reghook approved (its echo is recognised)
COMMENT_LIMIT = 2000
_STAGE_IN_EVENT = re.compile(r"_TO_([A-Z]+)(?:_CREATED)?$")


class Workspace(Protocol):
    """What the Databricks use cases need (:class:`handler.databricks.DatabricksWorkspace`)."""

    def open_transition_stages(self, name: str, version: str) -> list[str]: ...
    def approve_transition(self, name: str, version: str, stage: str, comment: str) -> bool: ...
    def reject_transition(self, name: str, version: str, stage: str, comment: str) -> bool: ...
    def job_run(self, run_id: str) -> JobRunFacts | None: ...


def workspace(governor: Governor) -> Workspace:
    """The governor's Databricks workspace, attached on first use (tests attach their own)."""
    found: Workspace | None = getattr(governor, "databricks", None)
    if found is None:
        from handler.databricks import DatabricksWorkspace  # imports databricks.sdk

        found = DatabricksWorkspace()
        governor.databricks = found  # type: ignore[attr-defined]
    return found


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


# --- registry webhooks -------------------------------------------------------------


def on_transition_request(governor: Governor, event_id: str, event_type: str,
                          model: str, version_number: str, payload: dict[str, Any]) -> Result:
    """Approve a transition to a gated stage if the version passes the gates, else reject it."""
    policy = governor.policies.for_model(model)
    if policy is None:
        return ignored(f"no policy for model {model!r}")
    stage = stage_of(event_type, payload)
    if stage not in GATED_STAGES:
        # Archiving (or moving to None) is never a promotion: left to people.
        return ignored(f"transitions to {stage or 'an unknown stage'} are not gated")
    ws = workspace(governor)
    if stage not in {s.capitalize() for s in ws.open_transition_stages(model, version_number)}:
        return ignored(f"no open request to move v{version_number} to {stage}: decided already")

    version = governor.registry.get_version(model, version_number)
    refusal, run, verdict = None, None, Verdict()
    if not version.run_id:
        refusal = f"v{version_number} has no MLflow run, so its gates cannot be evaluated"
    else:
        run = governor.registry.get_run(version.run_id)
        verdict = governor.validate(policy, run, version.source, version.version)
        governor.converge(event_id, policy, run, version, verdict)  # tags, aliases, 'validated'
        if version.tags.get(STATUS_TAG) == "rolled_back":
            refusal = f"v{version_number} was rolled back"
    approve = refusal is None and verdict.passed
    comment = decision_comment(version_number, verdict, refusal)

    if approve:
        # Noted first: Databricks may announce the transition before approve returns.
        governor.ledger.note_own_write(model, version_number, STAGE_WRITE, stage, None, event_id)
    try:
        decide = ws.approve_transition if approve else ws.reject_transition
        decided = decide(model, version_number, stage, comment)
    except Exception:
        if approve:  # nothing moved: forget the note so a later real move is not mistaken
            governor.ledger.consume_own_write(model, version_number, STAGE_WRITE, stage, None)
        raise
    if not decided:
        if approve:
            governor.ledger.consume_own_write(model, version_number, STAGE_WRITE, stage, None)
        governor.record(policy, [AuditEntry("skipped", model, version_number, event_id, detail={
            "to_stage": stage, "reason": "the transition request no longer exists"})])
        return done(f"request to move v{version_number} to {stage} no longer exists: "
                    "decided already")

    kind = "transition_approved" if approve else "transition_rejected"
    extra = {"to_stage": stage, "from_stage": payload.get("from_stage")}
    governor.record(policy, [AuditEntry(kind, model, version_number, event_id, detail={
        **extra, "comment": comment, "gates": verdict.to_json()})],
        outcome=Outcome(kind, model, version_number, event_id,
                        run_id=run.run_id if run else None,
                        run_url=governor.run_url(run) if run else None, gates=verdict.gates,
                        reason=comment, extra={k: v for k, v in extra.items() if v}))
    return done(f"transition of v{version_number} to {stage} "
                f"{'approved' if approve else 'rejected'}")


def on_stage_transitioned(governor: Governor, event_id: str, event_type: str, model: str,
                          version: str, payload: dict[str, Any]) -> Result:
    """A version changed stage: recorded, and announced unless reghook's own approval caused it."""
    policy = governor.policies.for_model(model)
    if policy is None:
        return ignored(f"no policy for model {model!r}")
    stage = stage_of(event_type, payload)
    detail = {"event": event_type, "from_stage": payload.get("from_stage"), "to_stage": stage}
    if stage and governor.ledger.consume_own_write(model, version, STAGE_WRITE, stage, None):
        # The transition_approved message already said it.
        governor.record(policy, [AuditEntry("recorded", model, version, event_id,
                                            detail={**detail, "echo": True})])
        return done(f"v{version} → {stage}: reghook's own approval")
    governor.record(policy, [AuditEntry("recorded", model, version, event_id,
                                        actor="databricks", detail=detail)],
                    outcome=Outcome("stage_transitioned", model, version, event_id,
                                    actor="databricks",
                                    extra={k: v for k, v in detail.items()
                                           if k != "event" and v}))
    return done(f"recorded v{version} → {stage}")


def on_tags_set(governor: Governor, event_id: str, model: str, version: str,
                payload: dict[str, Any]) -> Result:
    """Each tag of ``MODEL_VERSION_TAG_SET`` as MLflow's ``model_version_tag.set``."""
    results = [governor.on_tag_set(event_id, model, version, str(tag["key"]),
                                   None if tag.get("value") is None else str(tag["value"]))
               for tag in payload.get("tags") or [] if isinstance(tag, dict) and tag.get("key")]
    return combine(results, "no tags in the event")


def dispatch_databricks(governor: Governor, event_id: str, event_type: str,
                        payload: dict[str, Any]) -> Result:
    """Databricks Workspace Model Registry events (SPEC §1, §2.1)."""
    from handler.events import databricks_event_kind

    kind = databricks_event_kind(event_type)
    if kind is None:
        return ignored(f"reghook does not act on Databricks {event_type}")
    model = payload.get("model_name")
    if not model:
        raise PermanentError(f"{event_type} without model_name")
    model = str(model)
    version = None if payload.get("version") is None else str(payload["version"])
    if kind in ("REGISTERED_MODEL_CREATED", "COMMENT_CREATED"):
        detail = {"event": event_type}
        if payload.get("comment"):
            detail["comment"] = str(payload["comment"])[:COMMENT_LIMIT]
        governor.record(governor.policies.for_model(model),
                        [AuditEntry("recorded", model, version, event_id, actor="databricks",
                                    detail=detail)])
        return done("audit only")
    if not version:
        raise PermanentError(f"{event_type} without a version")
    if kind == "MODEL_VERSION_CREATED":
        return governor.govern_version(event_id, model, version)
    if kind == "MODEL_VERSION_TAG_SET":
        return on_tags_set(governor, event_id, model, version, payload)
    if kind == "TRANSITION_REQUEST_CREATED":
        return on_transition_request(governor, event_id, event_type, model, version, payload)
    return on_stage_transitioned(governor, event_id, event_type, model, version, payload)


def dispatch_job(governor: Governor, event_id: str, event_type: str,
                 payload: dict[str, Any]) -> Result:
    """Databricks Jobs webhook notifications (SPEC §1)."""
    from handler.governance.databricks_jobs import on_job_failure, on_job_success

    if event_type == "jobs.on_success":
        return on_job_success(governor, event_id, payload)
    if event_type == "jobs.on_failure":
        return on_job_failure(governor, event_id, payload)
    return ignored(f"reghook does not act on {event_type}")


def combine(results: list[Result], when_empty: str) -> Result:
    """Several results as one: done if any was done; every reason kept (bounded)."""
    if not results:
        return ignored(when_empty)
    reason = "; ".join(r.reason or r.status for r in results)[:2000]
    return done(reason) if any(r.status == "done" for r in results) else ignored(reason)
