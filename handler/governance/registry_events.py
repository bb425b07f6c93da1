"""MLflow registry webhooks about tags and aliases: echoes, approvals, guarded aliases.

Echoes first: every write reghook makes is noted before it is made, so its
webhook is recognised with no registry call at all and causes nothing.
"""

from __future__ import annotations

from handler.governance.core import Result, done, ignored
from handler.governance.lifecycle import Lifecycle
from handler.records import AliasMove, AuditEntry

OWN_TAG_PREFIX = "reghook."


class RegistryEvents(Lifecycle):
    """Handle ``model_version_tag.set`` and ``model_version_alias.created|deleted``."""

    def on_tag_set(self, event_id: str, model: str, version: str, key: str,
                   value: str | None) -> Result:
        """A version tag was set: an echo, an approval decision, or nothing to do."""
        if self.ledger.consume_own_write(model, version, "tag", key, value):
            return ignored("echo of reghook's own tag write")
        policy = self.policies.for_model(model)
        if policy is None:
            return ignored(f"no policy for model {model!r}")
        if key.startswith(OWN_TAG_PREFIX):
            # Someone else wrote a governance tag: never trusted, but on the record.
            reason = "reghook.* tags set by others are not trusted"
            self.record(policy, [AuditEntry("skipped", model, version, event_id, actor="mlflow",
                                            detail={"tag": key, "value": value, "reason": reason})])
            return ignored(f"{key} set by someone else is not trusted")
        if policy.promotion and key == policy.promotion.approval_tag:
            return self.on_approval(event_id, policy, version, value or "")
        return ignored(f"tag {key!r} is not a governance tag")

    def on_alias_created(self, event_id: str, model: str, alias: str, version: str) -> Result:
        """An alias was set or moved: an echo, a guarded move, or a move to record."""
        if self.ledger.consume_own_write(model, version, "alias_set", alias, version):
            return ignored("echo of reghook's own alias write")
        policy = self.policies.for_model(model)
        if policy is None:
            return ignored(f"no policy for model {model!r}")
        if alias == policy.protected_alias:
            return self.guard_alias(event_id, policy, alias, version)
        previous = self.last_holder(model, alias)
        if previous == version:
            return ignored(f"{alias} already recorded on v{version}")
        move = AliasMove(model, alias, version, previous, "mlflow", event_id, "set in MLflow")
        self.record(policy, [AuditEntry("alias_set", model, version, event_id, actor="mlflow",
                                        alias=alias, detail={"previous_version": previous})],
                    [move])
        return done(f"recorded {alias} → v{version}")

    def on_alias_deleted(self, event_id: str, model: str, alias: str) -> Result:
        """An alias was removed: record it (echo of reghook's own removal: nothing)."""
        if self.ledger.consume_own_write(model, None, "alias_deleted", alias, None):
            return ignored("echo of reghook's own alias removal")
        policy = self.policies.for_model(model)
        if policy is None:
            return ignored(f"no policy for model {model!r}")
        previous = self.last_holder(model, alias)
        move = AliasMove(model, alias, None, previous, "mlflow", event_id, "removed in MLflow")
        self.record(policy, [AuditEntry("alias_removed", model, previous, event_id, actor="mlflow",
                                        alias=alias, detail={})], [move])
        return done(f"recorded removal of {alias}")
