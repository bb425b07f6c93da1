"""Lifecycle of the protected alias: eligibility, approval, promotion, rollback (docs/processing.md).

Eligibility for the protected alias is decided from reghook's own record of
the verdict (the ledger), never from a ``reghook.status`` tag alone: anyone
with registry access can write a tag. The alias history is reghook's memory
of previous holders, since MLflow does not say who held an alias before.
"""

from __future__ import annotations

from handler.errors import PermanentError, TransientError
from handler.governance.context import Context
from handler.governance.ports import VersionInfo
from handler.governance.results import Result, done, ignored
from handler.governance.tags import APPROVAL_NOTE_TAG, ROLLBACK_FROM_TAG, STATUS_TAG
from handler.governance.writes import record, write_alias, write_tags
from handler.outcomes import AliasChange, Outcome
from handler.policy import ModelPolicy
from handler.records import AuditEntry

# Versions a rollback never returns to (by their status tag or reghook's verdict).
NOT_RESTORABLE = ("rolled_back", "failed")


class LifecycleError(PermanentError):
    """A promotion or rollback cannot be done as asked."""


def eligible(ctx: Context, policy: ModelPolicy, version: VersionInfo) -> tuple[bool, str]:
    """Whether a version may hold the protected alias, and why not."""
    assert policy.promotion is not None
    if version.tags.get(STATUS_TAG) == "rolled_back":
        return False, f"v{version.version} was rolled back"
    verdict = ctx.ledger.last_verdict(policy.name, version.version)
    if verdict != "passed":
        return False, f"v{version.version} did not pass the gates ({verdict or 'never validated'})"
    if version.tags.get(policy.promotion.approval_tag) != "approved":
        return False, f"v{version.version} is not approved ({policy.promotion.approval_tag} tag)"
    return True, ""


def protected_policy(ctx: Context, model: str) -> ModelPolicy:
    """The policy of ``model``, which must name a protected alias."""
    policy = ctx.policy(model)
    if policy is None:
        raise LifecycleError(f"no policy for model {model!r}")
    if policy.promotion is None:
        raise LifecycleError(f"the policy of {model!r} has no promotion alias")
    return policy


def move_protected_alias(ctx: Context, event_id: str, policy: ModelPolicy, version: VersionInfo,
                         actor: str, reason: str) -> Result:
    """Point the protected alias at an eligible version; record and announce the promotion."""
    alias = policy.protected_alias
    assert alias is not None
    holder = ctx.registry.version_by_alias(policy.name, alias)
    previous = holder.version if holder else None
    if previous == version.version:
        return ignored(f"v{version.version} already holds {alias}")
    move = write_alias(ctx, policy.name, alias, version.version, event_id, previous, reason)
    record(ctx, policy, [AuditEntry("promoted", policy.name, version.version, event_id,
                                    actor=actor, alias=alias,
                                    detail={"previous_version": previous, "reason": reason})],
           [move], Outcome("promoted", policy.name, version.version, event_id,
                           run_id=version.run_id, actor=actor, reason=reason,
                           alias_changes=(AliasChange(alias, version.version, previous),)))
    return done(f"{alias} → v{version.version}")


def on_approval(ctx: Context, event_id: str, policy: ModelPolicy, version_number: str,
                value: str, actor: str = "mlflow") -> Result:
    """The approval tag was set: promote an approved, passing version; record a rejection."""
    decision = value.strip().lower()
    if decision not in ("approved", "rejected"):
        return ignored(f"approval value {value!r} is neither approved nor rejected")
    version = ctx.registry.get_version(policy.name, version_number)
    if decision == "rejected":
        write_tags(ctx, policy.name, version_number, version.tags,
                   {APPROVAL_NOTE_TAG: "rejected"}, event_id)
        record(ctx, policy, [AuditEntry("approval_rejected", policy.name, version_number,
                                        event_id, actor=actor)],
               outcome=Outcome("approval_rejected", policy.name, version_number, event_id,
                               run_id=version.run_id, actor=actor,
                               reason="approval tag set to rejected"))
        return done(f"v{version_number} rejected by approver")
    if ctx.ledger.last_verdict(policy.name, version_number) is None:
        # Approved before reghook validated it (the run.finished event is
        # still queued): decide once the verdict exists, rather than refuse.
        raise TransientError(f"v{version_number} is not validated yet")
    ok, why = eligible(ctx, policy, version)
    if not ok:
        write_tags(ctx, policy.name, version_number, version.tags,
                   {APPROVAL_NOTE_TAG: f"refused: {why}"}, event_id)
        record(ctx, policy, [AuditEntry("approval_refused", policy.name, version_number,
                                        event_id, actor=actor, detail={"reason": why})],
               outcome=Outcome("approval_refused", policy.name, version_number, event_id,
                               run_id=version.run_id, actor=actor, reason=why))
        return done(f"approval refused: {why}")
    return move_protected_alias(ctx, event_id, policy, version, actor, "approved")


def promote(ctx: Context, event_id: str, model: str, version_number: str, actor: str) -> Result:
    """``reghook promote``: approve and promote by hand, under the same rules."""
    policy = protected_policy(ctx, model)
    assert policy.promotion is not None
    version = ctx.registry.get_version(model, version_number)
    if ctx.ledger.last_verdict(model, version_number) != "passed":
        raise LifecycleError(f"{model} v{version_number} did not pass the gates: not promoted")
    if version.tags.get(STATUS_TAG) == "rolled_back":
        raise LifecycleError(f"{model} v{version_number} was rolled back: not promoted")
    write_tags(ctx, model, version_number, version.tags,
               {policy.promotion.approval_tag: "approved"}, event_id)
    return move_protected_alias(ctx, event_id, policy, version, actor, f"promoted by {actor}")


def rollback_target(ctx: Context, policy: ModelPolicy, alias: str,
                    current: str) -> VersionInfo | None:
    """The previous eligible holder of ``alias``, newest first (skipping rolled-back and failed ones)."""
    seen = {current}
    for move in reversed(ctx.ledger.alias_moves(policy.name, alias)):
        for candidate in (move["version"], move["previous_version"]):
            if candidate is None or candidate in seen:
                continue
            seen.add(candidate)
            version = ctx.registry.get_version(policy.name, candidate)
            if version.tags.get(STATUS_TAG) in NOT_RESTORABLE:
                continue
            if ctx.ledger.last_verdict(policy.name, candidate) == "failed":
                continue
            return version
    return None


def rollback(ctx: Context, event_id: str, model: str, *, to_version: str | None = None,
             alias: str | None = None, reason: str | None = None, actor: str = "cli") -> Result:
    """Move the protected alias back to its previous eligible holder (or ``to_version``)."""
    policy = protected_policy(ctx, model)
    alias = alias or policy.protected_alias
    assert alias is not None
    holder = ctx.registry.version_by_alias(model, alias)
    if holder is None:
        raise LifecycleError(f"{model}@{alias} is not set: nothing to roll back")
    if to_version is not None:
        if to_version == holder.version:
            raise LifecycleError(f"v{to_version} already holds {alias}")
        target = ctx.registry.get_version(model, to_version)
    else:
        found = rollback_target(ctx, policy, alias, holder.version)
        if found is None:
            raise LifecycleError(f"{model}@{alias} has no previous eligible holder to roll back "
                                 f"to (current v{holder.version})")
        target = found
    why = reason or "rollback"
    move = write_alias(ctx, model, alias, target.version, event_id, holder.version,
                       reason=f"rollback: {why}")
    write_tags(ctx, model, holder.version, holder.tags, {STATUS_TAG: "rolled_back"}, event_id)
    write_tags(ctx, model, target.version, target.tags, {ROLLBACK_FROM_TAG: holder.version},
               event_id)
    record(ctx, policy, [AuditEntry("rolled_back", model, target.version, event_id, actor=actor,
                                    alias=alias,
                                    detail={"from_version": holder.version, "reason": why})],
           [move], Outcome("rolled_back", model, target.version, event_id,
                           run_id=target.run_id, actor=actor, reason=why,
                           alias_changes=(AliasChange(alias, target.version, holder.version),)))
    return done(f"{alias}: v{holder.version} → v{target.version}")
