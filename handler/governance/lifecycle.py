"""Lifecycle control of the protected alias: approval, guard, promotion, rollback (SPEC §2.1).

Eligibility for the protected alias is decided from reghook's own record of
the verdict (the ledger), never from a ``reghook.status`` tag alone: anyone
with registry access can write a tag. The alias history is reghook's memory
of previous holders, since MLflow does not say who held an alias before.
"""

from __future__ import annotations

from typing import Any

from handler.errors import PermanentError, TransientError
from handler.governance.core import ROLLBACK_FROM_TAG, STATUS_TAG, GovernorBase, Result, done, ignored
from handler.outcomes import AliasChange, Outcome
from handler.policy import ModelPolicy
from handler.records import AliasMove, AuditEntry

APPROVAL_TAG_NOTE = "reghook.approval"
GUARD_TAG = "reghook.guard"


class LifecycleError(PermanentError):
    """A promotion or rollback cannot be done as asked."""


class Lifecycle(GovernorBase):
    """Approval, guard, promotion and rollback of a policy's protected alias."""

    def verdict_of(self, model: str, version: str) -> str | None:
        """``passed`` / ``failed`` as reghook last recorded it for this version (None: never)."""
        return self.ledger.last_verdict(model, version)

    def eligible(self, policy: ModelPolicy, version: Any) -> tuple[bool, str]:
        """Whether a version may hold the protected alias, and why not."""
        assert policy.promotion is not None
        if version.tags.get(STATUS_TAG) == "rolled_back":
            return False, f"v{version.version} was rolled back"
        verdict = self.verdict_of(policy.name, version.version)
        if verdict != "passed":
            return False, f"v{version.version} did not pass the gates ({verdict or 'never validated'})"
        if version.tags.get(policy.promotion.approval_tag) != "approved":
            return False, f"v{version.version} is not approved ({policy.promotion.approval_tag} tag)"
        return True, ""

    def _promote(self, event_id: str, policy: ModelPolicy, version: Any, actor: str,
                 reason: str) -> Result:
        alias = policy.protected_alias
        assert alias is not None
        holder = self.registry.version_by_alias(policy.name, alias)
        previous = holder.version if holder else None
        if previous == version.version:
            return ignored(f"v{version.version} already holds {alias}")
        move = self.write_alias(policy.name, alias, version.version, event_id, previous, reason)
        self.record(policy, [AuditEntry("promoted", policy.name, version.version, event_id,
                                        actor=actor, alias=alias,
                                        detail={"previous_version": previous, "reason": reason})],
                    [move], Outcome("promoted", policy.name, version.version, event_id,
                                    run_id=version.run_id, actor=actor, reason=reason,
                                    alias_changes=(AliasChange(alias, version.version, previous),)))
        return done(f"{alias} → v{version.version}")

    def on_approval(self, event_id: str, policy: ModelPolicy, version_number: str,
                    value: str, actor: str = "mlflow") -> Result:
        """The approval tag was set: promote an approved, passing version; record a rejection."""
        assert policy.promotion is not None
        decision = value.strip().lower()
        if decision not in ("approved", "rejected"):
            return ignored(f"approval value {value!r} is neither approved nor rejected")
        version = self.registry.get_version(policy.name, version_number)
        if decision == "rejected":
            self.write_tags(policy.name, version_number, version.tags,
                            {APPROVAL_TAG_NOTE: "rejected"}, event_id)
            self.record(policy, [AuditEntry("approval_rejected", policy.name, version_number,
                                            event_id, actor=actor)],
                        outcome=Outcome("approval_rejected", policy.name, version_number, event_id,
                                        run_id=version.run_id, actor=actor,
                                        reason="approval tag set to rejected"))
            return done(f"v{version_number} rejected by approver")
        if self.verdict_of(policy.name, version_number) is None:
            # Approved before reghook validated it (the run.finished event is
            # still queued): decide once the verdict exists, rather than refuse.
            raise TransientError(f"v{version_number} is not validated yet")
        ok, why = self.eligible(policy, version)
        if not ok:
            self.write_tags(policy.name, version_number, version.tags,
                            {APPROVAL_TAG_NOTE: f"refused: {why}"}, event_id)
            self.record(policy, [AuditEntry("approval_refused", policy.name, version_number,
                                            event_id, actor=actor, detail={"reason": why})],
                        outcome=Outcome("approval_refused", policy.name, version_number, event_id,
                                        run_id=version.run_id, actor=actor, reason=why))
            return done(f"approval refused: {why}")
        return self._promote(event_id, policy, version, actor, "approved")

    def promote(self, event_id: str, model: str, version_number: str, actor: str) -> Result:
        """``reghook promote``: approve and promote by hand, under the same rules."""
        policy = self._protected_policy(model)
        assert policy.promotion is not None
        version = self.registry.get_version(model, version_number)
        tag = policy.promotion.approval_tag
        if self.verdict_of(model, version_number) != "passed":
            raise LifecycleError(f"{model} v{version_number} did not pass the gates: not promoted")
        if version.tags.get(STATUS_TAG) == "rolled_back":
            raise LifecycleError(f"{model} v{version_number} was rolled back: not promoted")
        self.write_tags(model, version_number, version.tags, {tag: "approved"}, event_id)
        return self._promote(event_id, policy, version, actor, f"promoted by {actor}")

    def guard_alias(self, event_id: str, policy: ModelPolicy, alias: str,
                    version_number: str) -> Result:
        """Someone else moved the protected alias: allow, revert or alert (SPEC §2.1)."""
        assert policy.promotion is not None
        version = self.registry.get_version(policy.name, version_number)
        previous = self.last_holder(policy.name, alias)
        outside = AliasMove(policy.name, alias, version_number, previous, "mlflow", event_id,
                            "set in MLflow")
        ok, why = self.eligible(policy, version)
        if ok and previous == version_number:
            return ignored(f"{alias} already recorded on v{version_number}")
        if ok:
            self.record(policy, [AuditEntry("alias_set", policy.name, version_number, event_id,
                                            actor="mlflow", alias=alias,
                                            detail={"previous_version": previous,
                                                    "reason": "approved and passed"})], [outside])
            return done(f"{alias} → v{version_number} allowed")
        self.write_tags(policy.name, version_number, version.tags,
                        {GUARD_TAG: f"{alias} refused: {why}"}, event_id)
        if policy.promotion.guard == "alert":
            self.record(policy, [AuditEntry("alias_alert", policy.name, version_number, event_id,
                                            actor="mlflow", alias=alias,
                                            detail={"reason": why, "previous_version": previous})],
                        [outside], Outcome("alias_alert", policy.name, version_number, event_id,
                                           run_id=version.run_id, reason=why,
                                           alias_changes=(AliasChange(alias, version_number, previous),)))
            return done(f"alerted: {why}")
        if previous and previous != version_number:
            back = self.write_alias(policy.name, alias, previous, event_id, version_number,
                                    reason=f"guard: {why}")
        else:
            back = self.remove_alias(policy.name, alias, event_id, version_number,
                                     reason=f"guard: {why}")
        self.record(policy, [AuditEntry("guard_reverted", policy.name, version_number, event_id,
                                        alias=alias, detail={"reason": why,
                                                             "restored_version": previous})],
                    [outside, back], Outcome("guard_reverted", policy.name, version_number,
                                             event_id, run_id=version.run_id, reason=why,
                                             alias_changes=(AliasChange(alias, previous, version_number),)))
        return done(f"reverted {alias} to {('v' + previous) if previous else 'unset'}: {why}")

    def _protected_policy(self, model: str) -> ModelPolicy:
        policy = self.policies.for_model(model)
        if policy is None:
            raise LifecycleError(f"no policy for model {model!r}")
        if policy.promotion is None:
            raise LifecycleError(f"the policy of {model!r} has no promotion alias")
        return policy

    def rollback_target(self, policy: ModelPolicy, alias: str, current: str) -> Any:
        """The previous eligible holder of ``alias`` (skipping rolled-back and failed versions)."""
        seen = {current}
        for move in reversed(self.ledger.alias_moves(policy.name, alias)):
            for candidate in (move["version"], move["previous_version"]):
                if candidate is None or candidate in seen:
                    continue
                seen.add(candidate)
                version = self.registry.get_version(policy.name, candidate)
                if version.tags.get(STATUS_TAG) in ("rolled_back", "failed"):
                    continue
                if self.verdict_of(policy.name, candidate) == "failed":
                    continue
                return version
        return None

    def rollback(self, event_id: str, model: str, *, to_version: str | None = None,
                 alias: str | None = None, reason: str | None = None,
                 actor: str = "cli") -> Result:
        """Move the protected alias back to its previous eligible holder (or ``to_version``)."""
        policy = self._protected_policy(model)
        alias = alias or policy.protected_alias
        assert alias is not None
        holder = self.registry.version_by_alias(model, alias)
        if holder is None:
            raise LifecycleError(f"{model}@{alias} is not set: nothing to roll back")
        if to_version is not None:
            if to_version == holder.version:
                raise LifecycleError(f"v{to_version} already holds {alias}")
            target = self.registry.get_version(model, to_version)
        else:
            target = self.rollback_target(policy, alias, holder.version)
            if target is None:
                raise LifecycleError(
                    f"{model}@{alias} has no previous eligible holder to roll back to "
                    f"(current v{holder.version})")
        why = reason or "rollback"
        move = self.write_alias(model, alias, target.version, event_id, holder.version,
                                reason=f"rollback: {why}")
        self.write_tags(model, holder.version, holder.tags, {STATUS_TAG: "rolled_back"}, event_id)
        self.write_tags(model, target.version, target.tags,
                        {ROLLBACK_FROM_TAG: holder.version}, event_id)
        self.record(policy, [AuditEntry("rolled_back", model, target.version, event_id,
                                        actor=actor, alias=alias,
                                        detail={"from_version": holder.version, "reason": why})],
                    [move], Outcome("rolled_back", model, target.version, event_id,
                                    run_id=target.run_id, actor=actor, reason=why,
                                    alias_changes=(AliasChange(alias, target.version, holder.version),)))
        return done(f"{alias}: v{holder.version} → v{target.version}")
