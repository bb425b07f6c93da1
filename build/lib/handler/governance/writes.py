"""Registry writes and records, the only way use cases change the world.

Every registry write is noted in the ledger *before* it is made, so the
webhook MLflow sends back about it (its echo) is recognised without a
registry call; writes that would change nothing are skipped, so replays
converge without new echoes. Audit entries, alias moves and notifications
are recorded in one transaction.
"""

from __future__ import annotations

from handler.governance.context import Context
from handler.outcomes import Outcome
from handler.policy import ModelPolicy
from handler.records import AliasMove, AuditEntry


def write_tags(ctx: Context, model: str, version: str, current: dict[str, str],
               desired: dict[str, str], event_id: str) -> dict[str, str]:
    """Set the tags whose value differs from ``current``; return what was written."""
    changed = {k: v for k, v in desired.items() if current.get(k) != v}
    for key, value in changed.items():
        ctx.ledger.note_own_write(model, version, "tag", key, value, event_id)
        ctx.registry.set_tag(model, version, key, value)
    return changed


def write_alias(ctx: Context, model: str, alias: str, version: str, event_id: str,
                previous: str | None, reason: str | None = None) -> AliasMove:
    """Point an alias at a version (noting the write for echo recognition)."""
    ctx.ledger.note_own_write(model, version, "alias_set", alias, version, event_id)
    ctx.registry.set_alias(model, alias, version)
    return AliasMove(model, alias, version, previous, "reghook", event_id, reason)


def remove_alias(ctx: Context, model: str, alias: str, event_id: str, previous: str | None,
                 reason: str | None = None) -> AliasMove:
    """Delete an alias (noting the write for echo recognition)."""
    ctx.ledger.note_own_write(model, None, "alias_deleted", alias, None, event_id)
    ctx.registry.delete_alias(model, alias)
    return AliasMove(model, alias, None, previous, "reghook", event_id, reason)


def last_holder(ctx: Context, model: str, alias: str) -> str | None:
    """Who held an alias last, by the alias history (no registry call)."""
    moves = ctx.ledger.alias_moves(model, alias)
    return moves[-1]["version"] if moves else None


def record(ctx: Context, policy: ModelPolicy | None, entries: list[AuditEntry],
           moves: list[AliasMove] | tuple[AliasMove, ...] = (),
           outcome: Outcome | None = None) -> None:
    """Audit entries, alias moves and the outcome's notifications, in one transaction."""
    outcomes: list[tuple[str, Outcome]] = []
    if outcome is not None:
        channels = (ctx.policies.channels_for(policy) if policy is not None
                    else list(ctx.policies.effective_channels))
        outcomes = [(channel, outcome) for channel in channels]
    ctx.ledger.record(entries, moves, outcomes)
