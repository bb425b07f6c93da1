"""Deprecation of superseded champions, by policy and by hand (docs/policy.md#deprecation)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from handler.governance.deprecation import DeprecationRefused, deprecate
from handler.governance.guard import guard_alias
from handler.governance.lifecycle import LifecycleError, promote, rollback
from handler.governance.registry_events import on_tag_set
from handler.governance.tags import DEPRECATED_AT_TAG, STATUS_TAG
from tests.unit.governance.conftest import MODEL, make_world, policy
from tests.unit.governance.test_lifecycle import champion, governed


@pytest.fixture
def deprecating(tmp_path, template_db):
    """A world whose policy deprecates: keep the 2 most recent champions, after 30 days."""
    def build(keep: int = 2, after_days: float = 30):
        w = make_world(tmp_path, template_db,
                       [policy(deprecation={"keep_champions": keep, "after_days": after_days})])
        worlds.append(w)
        days_later(w, 0)
        return w
    worlds: list = []
    yield build
    for w in worlds:
        w.store.dispose()


def days_later(world, days: float) -> None:
    """Set the context clock ``days`` after the wall clock (the alias history's clock)."""
    world.ctx.clock = lambda: datetime.now(UTC) + timedelta(days=days)


def status(world, version: str) -> str | None:
    return world.registry.tags_of(MODEL, version).get(STATUS_TAG)


def test_the_most_recent_champions_are_kept_and_older_ones_deprecated(deprecating):
    w = deprecating(keep=2, after_days=0)
    v1 = champion(w, "r1")
    v2 = champion(w, "r2", recall=0.81)
    assert status(w, v1) == "passed"  # two champions: both kept
    v3 = champion(w, "r3", recall=0.82)
    assert status(w, v1) == "deprecated"
    assert (status(w, v2), status(w, v3)) == ("passed", "passed")
    assert w.registry.tags_of(MODEL, v1)[DEPRECATED_AT_TAG] == w.ctx.now_iso()
    entry = w.audit("deprecated")[0]
    assert (entry["version"], entry["actor"]) == (v1, "reghook")
    assert "superseded" in entry["detail"]["reason"]
    assert "deprecated" in w.outcomes()
    champion(w, "r4", recall=0.83)
    assert [e["version"] for e in w.audit("deprecated")] == [v1, v2]
    assert status(w, v3) == "passed"
    assert (MODEL, v1) in w.registry.versions  # never deleted


def test_a_version_off_the_alias_for_less_than_after_days_is_kept(deprecating):
    w = deprecating(keep=1, after_days=30)
    v1 = champion(w, "r1")
    v2 = champion(w, "r2", recall=0.81)  # v1 off champion from now
    days_later(w, 29)
    champion(w, "r3", recall=0.82)
    assert (status(w, v1), status(w, v2)) == ("passed", "passed")  # 29 days off: kept
    days_later(w, 31)
    champion(w, "r4", recall=0.83)
    assert status(w, v1) == "deprecated"  # 31 days off


def test_without_a_deprecation_policy_nothing_is_deprecated(world):
    days_later(world, 365)
    for n in range(1, 6):
        champion(world, f"r{n}", recall=0.8 + n / 100)
    assert world.audit("deprecated") == []


def test_rollback_never_returns_to_a_deprecated_version(deprecating):
    w = deprecating(keep=2, after_days=0)
    v1 = champion(w, "r1")
    v2 = champion(w, "r2", recall=0.81)
    champion(w, "r3", recall=0.82)  # v1 deprecated
    rollback(w.ctx, w.event_id(), MODEL)  # v3 -> v2
    assert w.registry.holder(MODEL, "champion") == v2
    with pytest.raises(LifecycleError, match="no previous eligible holder"):
        rollback(w.ctx, w.event_id(), MODEL)  # v3 rolled back, v1 deprecated
    with pytest.raises(LifecycleError, match="deprecated"):
        rollback(w.ctx, w.event_id(), MODEL, to_version=v1)
    assert w.registry.holder(MODEL, "champion") == v2


def test_a_deprecated_version_is_never_promoted(deprecating):
    w = deprecating(keep=2, after_days=0)
    v1 = champion(w, "r1")
    champion(w, "r2", recall=0.81)
    champion(w, "r3", recall=0.82)
    assert status(w, v1) == "deprecated"
    with pytest.raises(LifecycleError, match="deprecated"):
        promote(w.ctx, w.event_id(), MODEL, v1, actor="cli:alice")
    result = on_tag_set(w.ctx, w.event_id(), MODEL, v1, "approval", "approved:bob")
    assert "refused" in (result.reason or "")
    w.registry.set_alias(MODEL, "champion", v1)  # by hand in the UI
    result = guard_alias(w.ctx, w.event_id(), w.ctx.policy(MODEL), "champion", v1)
    assert "was deprecated" in (result.reason or "")
    assert w.registry.holder(MODEL, "champion") != v1  # the guard put it back


def test_deprecate_by_hand_tags_drops_managed_aliases_records_and_announces(world):
    days_later(world, 0)
    v1 = governed(world, "r1")
    assert world.registry.holder(MODEL, "staging") == v1
    body = json.dumps({"model": MODEL, "version": v1, "reason": "data drift",
                       "actor": "cli:alice"})
    result = world.dispatch("cli", "deprecate.requested", body)
    assert result.status == "done"
    tags = world.registry.tags_of(MODEL, v1)
    assert (tags[STATUS_TAG], tags[DEPRECATED_AT_TAG]) == ("deprecated", world.ctx.now_iso())
    assert world.registry.holder(MODEL, "staging") is None
    entry = world.audit("deprecated")[0]
    assert (entry["actor"], entry["detail"]["reason"]) == ("cli:alice", "data drift")
    assert entry["detail"]["removed_aliases"] == ["staging"]
    assert world.store.alias_moves(MODEL, "staging")[-1]["version"] is None
    assert world.outcomes()[-1] == "deprecated"
    again = deprecate(world.ctx, world.event_id(), MODEL, v1, "again", "cli:alice")
    assert again.status == "ignored"


def test_revalidation_keeps_a_deprecated_version_deprecated_and_without_aliases(world):
    v1 = governed(world, "r1")
    deprecate(world.ctx, world.event_id(), MODEL, v1, "superseded", "cli:alice")
    world.dispatch("cli", "version.govern.requested",
                   json.dumps({"model": MODEL, "version": v1}))
    assert status(world, v1) == "deprecated"
    assert world.registry.holder(MODEL, "staging") is None


def test_the_holder_of_the_protected_alias_cannot_be_deprecated(world):
    v1 = champion(world, "r1")
    with pytest.raises(DeprecationRefused, match="holds champion"):
        deprecate(world.ctx, world.event_id(), MODEL, v1, "old", "cli:alice")
    assert status(world, v1) == "passed"


def test_the_comparison_shows_a_deprecated_version_as_deprecated(world):
    v1 = governed(world, "r1")
    deprecate(world.ctx, world.event_id(), MODEL, v1, "superseded", "cli:alice")
    found = world.store.compare_versions(MODEL)["versions"][0]
    assert (found["status"], found["deprecated_at"]) == ("deprecated", world.ctx.now_iso())
