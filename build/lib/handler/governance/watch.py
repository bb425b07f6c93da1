"""The registry watch: what people do in a registry that sends no webhooks becomes events.

Unity Catalog sends no registry webhooks, so every interval the worker looks
at each policy model and stores what changed since its last look as events
of source ``watch`` — ``model_version.created``, ``model_version_alias.created``
/ ``.deleted``, ``model_version_tag.set`` (the approval tag) — in MLflow's
webhook shape, so the same flows handle them (docs/processing.md).

Reads are bounded per look: the aliases come with the registered model (one
call), the version numbers are listed once (one call per thousand) and only
new versions are announced, never read; the approval tag is read only on
versions awaiting approval (passed by reghook's record, newer than the
protected alias's holder, at most ``AWAITING_LIMIT``). The first look at a
model takes a baseline: what existed before reghook watched is not replayed.
Idempotency keys come from (model, version, alias or tag, value) and a count
of the changes seen, so two workers that see the same change store it once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from handler.governance.context import Context
from handler.governance.ports import Inbox, WatchMemory
from handler.policy import ModelPolicy

WATCH_SOURCE = "watch"
AWAITING_LIMIT = 20


@dataclass(frozen=True)
class Change:
    """One change the watch stored as an event (``event_id``; ``new`` False: seen before)."""

    model: str
    type: str
    data: dict[str, Any]
    key: str
    event_id: str = ""
    new: bool = True


@dataclass
class Seen:
    """What the watch saw of one model at its last look."""

    versions: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)
    approvals: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, raw: dict[str, Any]) -> Seen:
        """From the stored JSON document."""
        return cls(set(raw.get("versions", [])), dict(raw.get("aliases", {})),
                   dict(raw.get("approvals", {})), dict(raw.get("counts", {})))

    def dump(self) -> dict[str, Any]:
        """As a JSON document."""
        return {"versions": sorted(self.versions, key=lambda v: (len(v), v)),
                "aliases": self.aliases, "approvals": self.approvals, "counts": self.counts}

    def key(self, model: str, *parts: str) -> str:
        """An idempotency key for the next change of this kind (counted, so a repeat is new)."""
        counter = ":".join(parts[:2])
        self.counts[counter] = self.counts.get(counter, 0) + 1
        return f"watch:{model}:{':'.join(parts)}:{self.counts[counter]}"


def alias_changes(model: str, seen: Seen, now: dict[str, str]) -> list[Change]:
    """Aliases set, moved or removed since the last look."""
    changes = []
    for alias, version in sorted(now.items()):
        if seen.aliases.get(alias) != version:
            changes.append(Change(model, "model_version_alias.created",
                                  {"name": model, "alias": alias, "version": version},
                                  seen.key(model, "alias", alias, version)))
    for alias in sorted(set(seen.aliases) - set(now)):
        changes.append(Change(model, "model_version_alias.deleted", {"name": model, "alias": alias},
                              seen.key(model, "alias", alias, "-")))
    seen.aliases = dict(now)
    return changes


def approval_changes(ctx: Context, memory: WatchMemory, policy: ModelPolicy, seen: Seen,
                     aliases: dict[str, str]) -> list[Change]:
    """Approval tags set on versions awaiting approval since the last look."""
    if policy.promotion is None:
        return []
    tag = policy.promotion.approval_tag
    holder = aliases.get(policy.promotion.alias)
    awaiting = [v for v in memory.passed_versions(policy.name, AWAITING_LIMIT)
                if v != holder and (holder is None or int(v) > int(holder))]
    changes = []
    for version in awaiting:
        value = ctx.registry.get_version(policy.name, version).tags.get(tag)
        if value is not None and seen.approvals.get(version) != value:
            changes.append(Change(policy.name, "model_version_tag.set",
                                  {"name": policy.name, "version": version, "key": tag,
                                   "value": value},
                                  seen.key(policy.name, "tag", version, tag, value)))
            seen.approvals[version] = value
    return changes


def look(ctx: Context, memory: WatchMemory, policy: ModelPolicy) -> list[Change]:
    """What changed in the registry for one policy model since the last look (state saved)."""
    raw = memory.watch_state(policy.name)
    aliases = ctx.registry.aliases_of(policy.name)
    if aliases is None:  # not registered yet: nothing to see
        memory.save_watch_state(policy.name, (Seen.load(raw) if raw else Seen()).dump())
        return []
    numbers = ctx.registry.version_numbers(policy.name)
    if raw is None:  # the first look: a baseline, not a replay of history
        memory.save_watch_state(policy.name, Seen(set(numbers), aliases).dump())
        return []
    seen = Seen.load(raw)
    changes = [Change(policy.name, "model_version.created", {"name": policy.name, "version": v},
                      f"watch:{policy.name}:version:{v}")
               for v in sorted(set(numbers) - seen.versions, key=lambda v: (len(v), v))]
    seen.versions |= set(numbers)
    # Versions first, then aliases and approvals: a new version is governed
    # before a move onto it is judged (the worker takes events in order).
    changes += alias_changes(policy.name, seen, aliases)
    changes += approval_changes(ctx, memory, policy, seen, aliases)
    memory.save_watch_state(policy.name, seen.dump())
    return changes


def store_changes(inbox: Inbox, changes: list[Change], at: str) -> list[Change]:
    """Store each change once as a ``watch`` event in MLflow's webhook shape."""
    stored = []
    for change in changes:
        entity, action = change.type.rsplit(".", 1)
        body = json.dumps({"entity": entity, "action": action, "timestamp": at,
                           "data": change.data})
        event_id, created = inbox.ingest(source=WATCH_SOURCE, event_type=change.type,
                                         idempotency_key=change.key, status="queued",
                                         body=body, headers={})
        stored.append(Change(change.model, change.type, change.data, change.key, event_id,
                             created))
    return stored


def watch(ctx: Context, memory: WatchMemory, inbox: Inbox, every_s: float) -> list[Change]:
    """One look at every policy model this worker may look at now; the changes, stored."""
    stored: list[Change] = []
    for policy in ctx.policies.models:
        if memory.claim_watch_look(policy.name, ctx.owner, every_s):
            stored += store_changes(inbox, look(ctx, memory, policy), ctx.now_iso())
    return stored
