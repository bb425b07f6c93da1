"""The registry watch: changes made by hand in a registry without webhooks become governed events."""

from __future__ import annotations

from handler.governance.tags import STATUS_TAG
from handler.governance.watch import look
from tests.unit.governance.conftest import MODEL, make_world, policy


def governed_by_watch(world, run_id: str, recall: float = 0.8) -> str:
    """Someone registers a version by hand; the watch sees it and reghook governs it."""
    world.run(run_id, recall=recall)
    version = world.registry.register_by_hand(MODEL, run_id)
    created = [c.data["version"] for c in world.watch() if c.type == "model_version.created"]
    assert created == [version]
    world.drain()
    return version


def baseline(world) -> None:
    world.run("r0")
    world.registry.register_by_hand(MODEL, "r0")
    assert world.watch() == []  # the first look takes a baseline: history is not replayed


def test_a_hand_registered_version_is_governed(world):
    baseline(world)
    v = governed_by_watch(world, "r1")
    assert world.registry.tags_of(MODEL, v)[STATUS_TAG] == "passed"
    assert world.registry.holder(MODEL, "staging") == v


def test_an_approval_tag_set_in_the_ui_promotes(world):
    baseline(world)
    v = governed_by_watch(world, "r1")
    world.watch()  # sees reghook's own staging alias: an echo, processed as nothing
    assert {status for _t, status, _r in world.drain()} <= {"ignored"}
    world.registry.set_tag(MODEL, v, "approval", "approved")  # in the UI
    [change] = world.watch()
    assert (change.type, change.data["value"]) == ("model_version_tag.set", "approved")
    world.drain()
    assert world.registry.holder(MODEL, "champion") == v


def test_a_champion_moved_by_hand_onto_a_failed_version_is_reverted(world):
    baseline(world)
    good = governed_by_watch(world, "r1")
    world.registry.set_tag(MODEL, good, "approval", "approved")
    world.watch()
    world.drain()
    bad = governed_by_watch(world, "r2", recall=0.5)
    world.registry.set_alias(MODEL, "champion", bad)  # by hand
    kinds = [c.type for c in world.watch()]
    assert "model_version_alias.created" in kinds
    world.drain()
    assert world.registry.holder(MODEL, "champion") == good
    assert "guard_reverted" in world.outcomes()
    world.watch()  # reghook's revert, seen by the watch: recognised as its own write
    assert all(status == "ignored" for _t, status, _r in world.drain())


def test_a_look_without_changes_reads_two_things_and_stores_nothing(world):
    baseline(world)
    governed_by_watch(world, "r1")
    world.watch()
    world.drain()
    world.registry.log.clear()
    assert world.watch() == []
    # aliases with the model, the version list, and the one version awaiting approval
    assert [m for m, _a in world.registry.log] == ["aliases_of", "version_numbers", "get_version"]


def test_the_same_change_seen_by_two_workers_is_stored_once(tmp_path, template_db):
    first = make_world(tmp_path, template_db, [policy()], owner="w1")
    second = make_world(tmp_path, template_db, [policy()], owner="w2")
    second.ctx.registry = first.registry
    first.run("r0")
    first.registry.register_by_hand(MODEL, "r0")
    assert look(first.ctx, first.store, first.ctx.policy(MODEL)) == []  # baseline, unclaimed
    first.run("r1")
    first.registry.register_by_hand(MODEL, "r1")
    assert len(first.watch(every_s=60)) == 1
    assert second.watch(every_s=60) == []  # the look is claimed: w2 does not repeat it
    assert [c.new for c in second.watch(every_s=0)] == []  # the state says it was seen


def test_what_the_watch_saw_survives_a_restart(tmp_path, template_db):
    first = make_world(tmp_path, template_db, [policy()])
    baseline(first)
    first.store.dispose()
    again = make_world(tmp_path, template_db, [policy()])
    again.ctx.registry = first.registry
    assert again.watch() == []
    first.registry.register_by_hand(MODEL, "r0")
    assert len(again.watch()) == 1


def test_an_alias_moved_back_and_forth_is_seen_each_time(world):
    baseline(world)
    world.run("r1")
    v1 = world.registry.register_by_hand(MODEL, "r1")
    world.watch()
    for holder in ("1", v1, "1"):
        world.registry.set_alias(MODEL, "shadow", holder)
        [change] = [c for c in world.watch() if c.type == "model_version_alias.created"]
        assert change.new and change.data["version"] == holder
    world.registry.delete_alias(MODEL, "shadow")
    assert [c.type for c in world.watch()] == ["model_version_alias.deleted"]
