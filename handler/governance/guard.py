"""The guard of the protected alias: someone else moved it (docs/policy.md, ``promotion.guard``).

An eligible version (passed by reghook's own record, approved, not rolled
back or deprecated) may be moved onto by hand: the move is recorded, with the
approver the approval tag names, and superseded holders may be deprecated. Otherwise the policy
says ``revert`` (the alias goes back to its previous holder, or is removed)
or ``alert`` (the move stays, the team is told).
"""

from __future__ import annotations

from handler.governance.context import Context
from handler.governance.deprecation import deprecate_superseded
from handler.governance.lifecycle import approval_of, eligible
from handler.governance.results import Result, done, ignored
from handler.governance.tags import GUARD_TAG
from handler.governance.writes import last_holder, record, remove_alias, write_alias, write_tags
from handler.outcomes import AliasChange, Outcome
from handler.policy import ModelPolicy
from handler.records import AliasMove, AuditEntry


def guard_alias(ctx: Context, event_id: str, policy: ModelPolicy, alias: str,
                version_number: str) -> Result:
    """Someone else moved the protected alias: allow, revert or alert."""
    assert policy.promotion is not None
    version = ctx.registry.get_version(policy.name, version_number)
    previous = last_holder(ctx, policy.name, alias)
    outside = AliasMove(policy.name, alias, version_number, previous, "mlflow", event_id,
                        "set in MLflow")
    ok, why = eligible(ctx, policy, version)
    if ok and previous == version_number:
        return ignored(f"{alias} already recorded on v{version_number}")
    if ok:
        _, approver = approval_of(version.tags.get(policy.promotion.approval_tag))
        record(ctx, policy, [AuditEntry("alias_set", policy.name, version_number, event_id,
                                        actor="mlflow", alias=alias,
                                        detail={"previous_version": previous,
                                                "reason": "approved and passed",
                                                "approver": approver})], [outside])
        retired = deprecate_superseded(ctx, event_id, policy)
        return done(f"{alias} → v{version_number} allowed"
                    + (f"; deprecated {', '.join('v' + n for n in retired)}" if retired else ""))
    write_tags(ctx, policy.name, version_number, version.tags,
               {GUARD_TAG: f"{alias} refused: {why}"}, event_id)
    if policy.promotion.guard == "alert":
        record(ctx, policy, [AuditEntry("alias_alert", policy.name, version_number, event_id,
                                        actor="mlflow", alias=alias,
                                        detail={"reason": why, "previous_version": previous})],
               [outside], Outcome("alias_alert", policy.name, version_number, event_id,
                                  run_id=version.run_id, reason=why,
                                  alias_changes=(AliasChange(alias, version_number, previous),)))
        return done(f"alerted: {why}")
    if previous and previous != version_number:
        back = write_alias(ctx, policy.name, alias, previous, event_id, version_number,
                           reason=f"guard: {why}")
    else:
        back = remove_alias(ctx, policy.name, alias, event_id, version_number,
                            reason=f"guard: {why}")
    record(ctx, policy, [AuditEntry("guard_reverted", policy.name, version_number, event_id,
                                    alias=alias,
                                    detail={"reason": why, "restored_version": previous})],
           [outside, back], Outcome("guard_reverted", policy.name, version_number, event_id,
                                    run_id=version.run_id, reason=why,
                                    alias_changes=(AliasChange(alias, previous, version_number),)))
    return done(f"reverted {alias} to {('v' + previous) if previous else 'unset'}: {why}")
