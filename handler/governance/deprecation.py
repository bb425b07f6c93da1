"""Deprecation of superseded champions, by policy or by hand (docs/policy.md#deprecation).

A deprecated version is tagged ``reghook.status=deprecated`` with
``reghook.deprecated_at``, loses the aliases reghook manages (the policy's
``on_pass`` / ``on_fail`` aliases), is recorded and announced, and is never
promoted or rolled back to again. It is never deleted: an auditor may still
need to load exactly what was served.

Which versions are superseded is read from the alias history (reghook's own
memory of who held the protected alias, and when), against the context's clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from handler.errors import PermanentError
from handler.governance.context import Context
from handler.governance.ports import VersionInfo
from handler.governance.results import Result, done, ignored
from handler.governance.tags import DEPRECATED_AT_TAG, RETIRED_STATUSES, STATUS_TAG
from handler.governance.writes import record, remove_alias, write_tags
from handler.outcomes import AliasChange, Outcome
from handler.policy import ModelPolicy
from handler.records import AuditEntry

DEPRECATED = "deprecated"


class DeprecationRefused(PermanentError):
    """A version cannot be deprecated as asked."""


def superseded(moves: list[dict[str, Any]], keep: int, after: timedelta,
               now: datetime) -> list[tuple[str, datetime]]:
    """Former holders of an alias to deprecate, with when they left it; pure.

    ``moves`` is the alias's history, oldest first. Holders are ranked by
    when they last took the alias: the ``keep`` most recent (the current one
    included) are kept, and so is any version off the alias for less than
    ``after``.
    """
    holder: str | None = None
    took: dict[str, int] = {}  # version -> index of the move by which it last took the alias
    left: dict[str, datetime | None] = {}  # version -> when it last left (None: holds it)
    for index, move in enumerate(moves):
        if move["version"] == holder:
            continue  # re-recorded for the same holder: the spell goes on
        if holder is not None:
            left[holder] = datetime.fromisoformat(move["at"])
        holder = move["version"]
        if holder is not None:
            took[holder], left[holder] = index, None
    ranked = sorted(took, key=took.__getitem__, reverse=True)
    return [(version, gone) for version in ranked[keep:]
            if (gone := left[version]) is not None and now - gone >= after]


def managed_aliases(policy: ModelPolicy, version: VersionInfo) -> list[str]:
    """The aliases reghook manages (``on_pass`` / ``on_fail``) that the version holds."""
    managed = dict.fromkeys([*policy.on_pass.aliases, *policy.on_fail.aliases])
    return [alias for alias in managed if alias in version.aliases]


def deprecate_version(ctx: Context, event_id: str, policy: ModelPolicy, version: VersionInfo,
                      reason: str, actor: str) -> None:
    """Tag the version deprecated, take its managed aliases away, record and announce it."""
    dropped = managed_aliases(policy, version)
    deprecated_at = ctx.now_iso()
    # Tags first: should the alias removals fail, a retry still finds the version
    # deprecated, and it is already ineligible for every alias reghook moves.
    write_tags(ctx, policy.name, version.version, version.tags,
               {STATUS_TAG: DEPRECATED, DEPRECATED_AT_TAG: deprecated_at}, event_id)
    moves = [remove_alias(ctx, policy.name, alias, event_id, version.version,
                          reason=f"deprecated: {reason}") for alias in dropped]
    entries = [AuditEntry(DEPRECATED, policy.name, version.version, event_id, actor=actor,
                          detail={"reason": reason, "deprecated_at": deprecated_at,
                                  "removed_aliases": dropped,
                                  "previous_status": version.tags.get(STATUS_TAG)})]
    entries += [AuditEntry("alias_removed", policy.name, version.version, event_id, actor=actor,
                           alias=alias, detail={"reason": "deprecated"}) for alias in dropped]
    record(ctx, policy, entries, moves,
           Outcome(DEPRECATED, policy.name, version.version, event_id, run_id=version.run_id,
                   actor=actor, reason=reason,
                   alias_changes=tuple(AliasChange(a, None, version.version) for a in dropped)))


def deprecate_superseded(ctx: Context, event_id: str, policy: ModelPolicy) -> list[str]:
    """After a version took the protected alias: deprecate the holders the policy lets go.

    Returns the versions deprecated now. Versions already rolled back or
    deprecated keep their status (both are out of the running already).
    """
    rule, alias = policy.deprecation, policy.protected_alias
    if rule is None or alias is None:
        return []
    moves = ctx.ledger.alias_moves(policy.name, alias)
    found = superseded(moves, rule.keep_champions, timedelta(days=rule.after_days), ctx.clock())
    deprecated = []
    for number, gone in found:
        version = ctx.registry.get_version(policy.name, number)
        if version.tags.get(STATUS_TAG) in RETIRED_STATUSES:
            continue
        reason = (f"superseded: off {alias} since {gone.date().isoformat()}, and not one of "
                  f"the {rule.keep_champions} most recent holders")
        deprecate_version(ctx, event_id, policy, version, reason, actor="reghook")
        deprecated.append(number)
    return deprecated


def deprecate(ctx: Context, event_id: str, model: str, version_number: str, reason: str,
              actor: str) -> Result:
    """``reghook deprecate``: deprecate one version by hand (never the protected alias's holder)."""
    policy = ctx.policy(model)
    if policy is None:
        raise DeprecationRefused(f"no policy for model {model!r}")
    version = ctx.registry.get_version(model, version_number)
    if version.tags.get(STATUS_TAG) == DEPRECATED:
        return ignored(f"v{version_number} is already deprecated")
    alias = policy.protected_alias
    if alias is not None and alias in version.aliases:
        raise DeprecationRefused(f"{model} v{version_number} holds {alias}: promote or roll "
                                 "back to another version first")
    deprecate_version(ctx, event_id, policy, version, reason, actor)
    return done(f"v{version_number} deprecated")
