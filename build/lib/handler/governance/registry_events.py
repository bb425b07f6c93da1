"""Registry events about tags and aliases: echoes, approvals, guarded aliases, records.

Echoes first: every write reghook makes is noted before it is made, so its
webhook is recognised with no registry call at all and causes nothing.
"""

from __future__ import annotations

from handler.governance.context import Context
from handler.governance.guard import guard_alias
from handler.governance.lifecycle import on_approval
from handler.governance.results import Result, done, ignored
from handler.governance.tags import OWN_TAG_PREFIX
from handler.governance.writes import last_holder, record
from handler.records import AliasMove, AuditEntry


def on_tag_set(ctx: Context, event_id: str, model: str, version: str, key: str,
               value: str | None) -> Result:
    """A version tag was set: an echo, an approval decision, or nothing to do."""
    if ctx.ledger.consume_own_write(model, version, "tag", key, value):
        return ignored("echo of reghook's own tag write")
    policy = ctx.policy(model)
    if policy is None:
        return ignored(f"no policy for model {model!r}")
    if key.startswith(OWN_TAG_PREFIX):
        # Someone else wrote a governance tag: never trusted, but on the record.
        reason = "reghook.* tags set by others are not trusted"
        record(ctx, policy, [AuditEntry("skipped", model, version, event_id, actor="mlflow",
                                        detail={"tag": key, "value": value, "reason": reason})])
        return ignored(f"{key} set by someone else is not trusted")
    if policy.promotion and key == policy.promotion.approval_tag:
        return on_approval(ctx, event_id, policy, version, value or "")
    return ignored(f"tag {key!r} is not a governance tag")


def on_alias_created(ctx: Context, event_id: str, model: str, alias: str, version: str) -> Result:
    """An alias was set or moved: an echo, a guarded move, or a move to record."""
    if ctx.ledger.consume_own_write(model, version, "alias_set", alias, version):
        return ignored("echo of reghook's own alias write")
    policy = ctx.policy(model)
    if policy is None:
        return ignored(f"no policy for model {model!r}")
    if alias == policy.protected_alias:
        return guard_alias(ctx, event_id, policy, alias, version)
    previous = last_holder(ctx, model, alias)
    if previous == version:
        return ignored(f"{alias} already recorded on v{version}")
    move = AliasMove(model, alias, version, previous, "mlflow", event_id, "set in MLflow")
    record(ctx, policy, [AuditEntry("alias_set", model, version, event_id, actor="mlflow",
                                    alias=alias, detail={"previous_version": previous})], [move])
    return done(f"recorded {alias} → v{version}")


def on_alias_deleted(ctx: Context, event_id: str, model: str, alias: str) -> Result:
    """An alias was removed: record it (echo of reghook's own removal: nothing)."""
    if ctx.ledger.consume_own_write(model, None, "alias_deleted", alias, None):
        return ignored("echo of reghook's own alias removal")
    policy = ctx.policy(model)
    if policy is None:
        return ignored(f"no policy for model {model!r}")
    previous = last_holder(ctx, model, alias)
    move = AliasMove(model, alias, None, previous, "mlflow", event_id, "removed in MLflow")
    record(ctx, policy, [AuditEntry("alias_removed", model, previous, event_id, actor="mlflow",
                                    alias=alias, detail={})], [move])
    return done(f"recorded removal of {alias}")


def on_model_created(ctx: Context, event_id: str, model: str, event_type: str,
                     actor: str = "mlflow") -> Result:
    """A registered model was created: on the record only."""
    record(ctx, ctx.policy(model), [AuditEntry("recorded", model, None, event_id, actor=actor,
                                               detail={"event": event_type})])
    return done("audit only")
