"""Lifecycle of the protected alias: eligibility, approval, promotion, rollback (docs/processing.md).

Eligibility for the protected alias is decided from reghook's own record of
the verdict (the ledger), never from a ``reghook.status`` tag alone: anyone
with registry access can write a tag. The alias history is reghook's memory
of previous holders, since MLflow does not say who held an alias before.

An approval carries a person where one is known: ``approved:<who>`` in the
approval tag, ``reghook promote --as``, or the admin API's caller. With
``promotion.require_distinct_approver`` the approver must be named and must
not be the run's author (its ``mlflow.user`` tag).
"""

from __future__ import annotations

from handler.errors import PermanentError, TransientError
from handler.governance.context import Context
from handler.governance.deprecation import deprecate_superseded
from handler.governance.ports import VersionInfo
from handler.governance.results import Result, done, ignored
from handler.governance.tags import (
    APPROVAL_NOTE_TAG,
    RETIRED_STATUSES,
    ROLLBACK_FROM_TAG,
    STATUS_TAG,
)
from handler.governance.writes import record, write_alias, write_tags
from handler.outcomes import AliasChange, Outcome
from handler.policy import ModelPolicy
from handler.records import AuditEntry

# Versions a rollback never returns to (by their status tag or reghook's verdict).
NOT_RESTORABLE = ("rolled_back", "failed", "deprecated")
APPROVED, REJECTED = "approved", "rejected"
# Actors that name no person: the registry's webhooks, an admin API call with no
# proxy identity, a CLI user whose name could not be read.
ANONYMOUS = ("mlflow", "api", "cli", "reghook")


class LifecycleError(PermanentError):
    """A promotion or rollback cannot be done as asked."""


def approval_of(value: str | None) -> tuple[str, str | None]:
    """The decision and the approver an approval tag value names.

    ``approved:alice`` → ``("approved", "alice")``; ``Approved`` → ``("approved", None)``.
    """
    decision, _, who = (value or "").partition(":")
    return decision.strip().lower(), who.strip() or None


def person(actor: str | None) -> str | None:
    """The person behind an actor (``cli:alice``, ``api:a@x.io``, ``alice``); None if anonymous."""
    kind, sep, rest = (actor or "").partition(":")
    name = (rest if sep and kind in ("cli", "api") else actor or "").strip()
    return None if not name or name in ANONYMOUS else name


def distinct_refusal(ctx: Context, policy: ModelPolicy, version: VersionInfo,
                     approver: str | None) -> str | None:
    """Why ``require_distinct_approver`` refuses this approver (None: it does not)."""
    assert policy.promotion is not None
    if not policy.promotion.require_distinct_approver:
        return None
    who = person(approver)
    if who is None:
        return (f"v{version.version}'s approval names no approver "
                f"(require_distinct_approver: set {policy.promotion.approval_tag}=approved:<who>)")
    # One tracking-server read, only for policies that ask for four eyes.
    author = ctx.registry.get_run(version.run_id).tags.get("mlflow.user") if version.run_id else None
    if author and who.casefold() == author.strip().casefold():
        return (f"v{version.version} was approved by its author {author} "
                "(require_distinct_approver)")
    return None


def eligible(ctx: Context, policy: ModelPolicy, version: VersionInfo,
             approver: str | None = None) -> tuple[bool, str]:
    """Whether a version may hold the protected alias, and why not.

    ``approver``: who approved, when the caller knows; else the approval tag names them.
    """
    assert policy.promotion is not None
    status = version.tags.get(STATUS_TAG)
    if status in RETIRED_STATUSES:
        return False, f"v{version.version} was {status.replace('_', ' ')}"
    verdict = ctx.ledger.last_verdict(policy.name, version.version)
    if verdict != "passed":
        return False, f"v{version.version} did not pass the gates ({verdict or 'never validated'})"
    decision, named = approval_of(version.tags.get(policy.promotion.approval_tag))
    if decision != APPROVED:
        return False, f"v{version.version} is not approved ({policy.promotion.approval_tag} tag)"
    refusal = distinct_refusal(ctx, policy, version, approver or named)
    return (False, refusal) if refusal else (True, "")


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
    """Point the protected alias at an eligible version; record and announce the promotion.

    ``actor`` is the approver. Then the holders the policy lets go are deprecated.
    """
    alias = policy.protected_alias
    assert alias is not None
    holder = ctx.registry.version_by_alias(policy.name, alias)
    previous = holder.version if holder else None
    if previous == version.version:
        # A retry after the move: finish the deprecation it may not have reached.
        retired = deprecate_superseded(ctx, event_id, policy)
        return (done(f"deprecated {_versions(retired)}") if retired
                else ignored(f"v{version.version} already holds {alias}"))
    move = write_alias(ctx, policy.name, alias, version.version, event_id, previous, reason)
    record(ctx, policy, [AuditEntry("promoted", policy.name, version.version, event_id,
                                    actor=actor, alias=alias,
                                    detail={"previous_version": previous, "reason": reason,
                                            "approver": actor})],
           [move], Outcome("promoted", policy.name, version.version, event_id,
                           run_id=version.run_id, actor=actor, reason=reason,
                           alias_changes=(AliasChange(alias, version.version, previous),)))
    retired = deprecate_superseded(ctx, event_id, policy)
    return done(f"{alias} → v{version.version}"
                + (f"; deprecated {_versions(retired)}" if retired else ""))


def _versions(numbers: list[str]) -> str:
    return ", ".join(f"v{n}" for n in numbers)


def _refuse(ctx: Context, event_id: str, policy: ModelPolicy, version: VersionInfo,
            approver: str, why: str) -> Result:
    """Record and announce a refused approval; the version is tagged with why."""
    write_tags(ctx, policy.name, version.version, version.tags,
               {APPROVAL_NOTE_TAG: f"refused: {why}"}, event_id)
    record(ctx, policy, [AuditEntry("approval_refused", policy.name, version.version,
                                    event_id, actor=approver, detail={"reason": why})],
           outcome=Outcome("approval_refused", policy.name, version.version, event_id,
                           run_id=version.run_id, actor=approver, reason=why))
    return done(f"approval refused: {why}")


def on_approval(ctx: Context, event_id: str, policy: ModelPolicy, version_number: str,
                value: str, actor: str = "mlflow") -> Result:
    """The approval tag was set: promote an approved, passing version; record a rejection.

    ``value`` may name the approver (``approved:alice``); else ``actor`` stands for them.
    """
    decision, named = approval_of(value)
    if decision not in (APPROVED, REJECTED):
        return ignored(f"approval value {value!r} is neither approved nor rejected")
    approver = named or actor
    version = ctx.registry.get_version(policy.name, version_number)
    if decision == REJECTED:
        write_tags(ctx, policy.name, version_number, version.tags,
                   {APPROVAL_NOTE_TAG: "rejected"}, event_id)
        record(ctx, policy, [AuditEntry("approval_rejected", policy.name, version_number,
                                        event_id, actor=approver)],
               outcome=Outcome("approval_rejected", policy.name, version_number, event_id,
                               run_id=version.run_id, actor=approver,
                               reason=f"approval tag set to rejected by {approver}"))
        return done(f"v{version_number} rejected by {approver}")
    if ctx.ledger.last_verdict(policy.name, version_number) is None:
        # Approved before reghook validated it (the run.finished event is
        # still queued): decide once the verdict exists, rather than refuse.
        raise TransientError(f"v{version_number} is not validated yet")
    ok, why = eligible(ctx, policy, version, approver)
    if not ok:
        return _refuse(ctx, event_id, policy, version, approver, why)
    return move_protected_alias(ctx, event_id, policy, version, approver,
                                f"approved by {approver}")


def promote(ctx: Context, event_id: str, model: str, version_number: str, actor: str) -> Result:
    """``reghook promote`` and the admin API: approve as ``actor`` and promote, under the same rules.

    The approval tag is written ``approved:<actor>``, so the registry names the approver too.
    """
    policy = protected_policy(ctx, model)
    assert policy.promotion is not None
    version = ctx.registry.get_version(model, version_number)
    if ctx.ledger.last_verdict(model, version_number) != "passed":
        raise LifecycleError(f"{model} v{version_number} did not pass the gates: not promoted")
    status = version.tags.get(STATUS_TAG)
    if status in RETIRED_STATUSES:
        raise LifecycleError(f"{model} v{version_number} was {status.replace('_', ' ')}: "
                             "not promoted")
    refusal = distinct_refusal(ctx, policy, version, actor)
    if refusal:
        return _refuse(ctx, event_id, policy, version, actor, refusal)
    write_tags(ctx, model, version_number, version.tags,
               {policy.promotion.approval_tag: f"{APPROVED}:{actor}"}, event_id)
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
        if target.tags.get(STATUS_TAG) == "deprecated":
            raise LifecycleError(f"{model} v{to_version} is deprecated: never rolled back to")
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
