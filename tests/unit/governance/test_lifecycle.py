"""Approval, promotion, the guard of the protected alias, and rollback (docs/processing.md)."""

from __future__ import annotations

import pytest

from handler.errors import TransientError
from handler.governance.guard import guard_alias
from handler.governance.lifecycle import LifecycleError, on_approval, promote, rollback
from handler.governance.registry_events import on_alias_created, on_tag_set
from handler.governance.runs import govern_run
from handler.governance.tags import ROLLBACK_FROM_TAG, STATUS_TAG
from tests.unit.governance.conftest import MODEL, make_world, policy


def governed(world, run_id: str, recall: float = 0.8) -> str:
    """Govern a new run; return its version."""
    world.run(run_id, recall=recall)
    govern_run(world.ctx, world.event_id(), run_id)
    return world.registry.find_version_for_run(MODEL, run_id).version


def champion(world, run_id: str, recall: float = 0.8) -> str:
    """Govern a run, approve it by hand in the registry, and let the approval promote it."""
    version = governed(world, run_id, recall)
    world.registry.set_tag(MODEL, version, "approval", "approved")
    result = on_tag_set(world.ctx, world.event_id(), MODEL, version, "approval", "approved")
    assert result.status == "done", result
    return version


def test_an_approved_passing_version_is_promoted_and_announced(world):
    v1 = champion(world, "r1")
    assert world.registry.holder(MODEL, "champion") == v1
    assert world.audit("promoted")[0]["detail"]["previous_version"] is None
    assert world.outcomes()[-1] == "promoted"


def test_approval_of_a_failed_version_is_refused(world):
    v1 = governed(world, "r1", recall=0.5)
    world.registry.set_tag(MODEL, v1, "approval", "approved")
    result = on_tag_set(world.ctx, world.event_id(), MODEL, v1, "approval", "approved")
    assert "refused" in (result.reason or "")
    assert world.registry.holder(MODEL, "champion") is None
    assert world.outcomes()[-1] == "approval_refused"


def test_approval_before_validation_waits_for_the_verdict(world):
    world.run("r1")
    v1 = world.registry.register_by_hand(MODEL, "r1")
    with pytest.raises(TransientError, match="not validated yet"):
        on_approval(world.ctx, world.event_id(), world.ctx.policy(MODEL), v1, "approved")


def test_a_forged_passed_status_tag_is_not_trusted(world):
    v1 = governed(world, "r1", recall=0.5)
    world.registry.set_tag(MODEL, v1, STATUS_TAG, "passed")  # someone with registry access
    result = on_tag_set(world.ctx, world.event_id(), MODEL, v1, STATUS_TAG, "passed")
    assert result.status == "ignored" and world.audit("skipped")
    world.registry.set_tag(MODEL, v1, "approval", "approved")
    on_tag_set(world.ctx, world.event_id(), MODEL, v1, "approval", "approved")
    assert world.registry.holder(MODEL, "champion") is None  # the ledger says failed


def test_a_rejection_is_tagged_and_announced(world):
    v1 = governed(world, "r1")
    on_tag_set(world.ctx, world.event_id(), MODEL, v1, "approval", "rejected")
    assert world.registry.tags_of(MODEL, v1)["reghook.approval"] == "rejected"
    assert world.outcomes()[-1] == "approval_rejected"


def test_promote_by_hand_approves_and_moves_the_alias(world):
    v1 = governed(world, "r1")
    promote(world.ctx, world.event_id(), MODEL, v1, actor="cli:alice")
    assert world.registry.holder(MODEL, "champion") == v1
    assert world.registry.tags_of(MODEL, v1)["approval"] == "approved:cli:alice"
    assert world.audit("promoted")[0]["actor"] == "cli:alice"


def test_promote_by_hand_refuses_a_failed_version(world):
    v1 = governed(world, "r1", recall=0.5)
    with pytest.raises(LifecycleError, match="did not pass"):
        promote(world.ctx, world.event_id(), MODEL, v1, actor="cli")


def test_the_guard_reverts_a_hand_move_onto_an_unapproved_version(world):
    v1 = champion(world, "r1")
    v2 = governed(world, "r2", recall=0.81)
    world.registry.set_alias(MODEL, "champion", v2)  # by hand in the UI
    result = on_alias_created(world.ctx, world.event_id(), MODEL, "champion", v2)
    assert result.status == "done" and "reverted" in (result.reason or "")
    assert world.registry.holder(MODEL, "champion") == v1
    assert world.outcomes()[-1] == "guard_reverted"


def test_the_guard_removes_the_alias_when_there_was_no_previous_holder(world):
    v1 = governed(world, "r1", recall=0.5)
    world.registry.set_alias(MODEL, "champion", v1)
    guard_alias(world.ctx, world.event_id(), world.ctx.policy(MODEL), "champion", v1)
    assert world.registry.holder(MODEL, "champion") is None


def test_the_guard_in_alert_mode_leaves_the_move_and_alerts(tmp_path, template_db):
    w = make_world(tmp_path, template_db, [policy(promotion={"alias": "champion",
                                                             "guard": "alert"})])
    v1 = governed(w, "r1", recall=0.5)
    w.registry.set_alias(MODEL, "champion", v1)
    on_alias_created(w.ctx, w.event_id(), MODEL, "champion", v1)
    assert w.registry.holder(MODEL, "champion") == v1
    assert w.outcomes()[-1] == "alias_alert"


def test_the_guard_allows_a_hand_move_onto_an_eligible_version(world):
    champion(world, "r1")
    v2 = governed(world, "r2", recall=0.81)
    world.registry.set_tag(MODEL, v2, "approval", "approved")
    world.registry.set_alias(MODEL, "champion", v2)
    result = on_alias_created(world.ctx, world.event_id(), MODEL, "champion", v2)
    assert "allowed" in (result.reason or "")
    assert world.registry.holder(MODEL, "champion") == v2


def test_echoes_of_reghooks_own_alias_writes_cause_nothing(world):
    v1 = champion(world, "r1")
    writes = len(world.registry.writes())
    result = on_alias_created(world.ctx, world.event_id(), MODEL, "champion", v1)
    assert result.status == "ignored" and "echo" in (result.reason or "")
    assert len(world.registry.writes()) == writes


def test_rollback_returns_to_the_previous_holder_and_tags_both(world):
    v1 = champion(world, "r1")
    v2 = champion(world, "r2", recall=0.81)
    rollback(world.ctx, world.event_id(), MODEL, reason="latency")
    assert world.registry.holder(MODEL, "champion") == v1
    assert world.registry.tags_of(MODEL, v2)[STATUS_TAG] == "rolled_back"
    assert world.registry.tags_of(MODEL, v1)[ROLLBACK_FROM_TAG] == v2
    assert world.outcomes()[-1] == "rolled_back"


def test_rollback_skips_rolled_back_and_failed_candidates(world):
    v1 = champion(world, "r1")
    v2 = champion(world, "r2", recall=0.81)
    v3 = champion(world, "r3", recall=0.82)
    rollback(world.ctx, world.event_id(), MODEL)  # v3 -> v2, v3 rolled back
    assert world.registry.holder(MODEL, "champion") == v2
    world.registry.set_tag(MODEL, v1, STATUS_TAG, "failed")  # v1 found bad later
    v4 = champion(world, "r4", recall=0.83)
    assert world.registry.holder(MODEL, "champion") == v4
    rollback(world.ctx, world.event_id(), MODEL)  # v4 -> v2 (v3 rolled back)
    assert world.registry.holder(MODEL, "champion") == v2
    with pytest.raises(LifecycleError, match="no previous eligible holder"):
        rollback(world.ctx, world.event_id(), MODEL)  # v1 failed, v3 and v4 rolled back
    assert v3 != v2


def test_rollback_to_an_explicit_version(world):
    v1 = champion(world, "r1")
    champion(world, "r2", recall=0.81)
    champion(world, "r3", recall=0.82)
    rollback(world.ctx, world.event_id(), MODEL, to_version=v1)
    assert world.registry.holder(MODEL, "champion") == v1


def test_rollback_refuses_when_the_alias_is_unset_or_already_on_the_target(world):
    with pytest.raises(LifecycleError, match="not set"):
        rollback(world.ctx, world.event_id(), MODEL)
    v1 = champion(world, "r1")
    with pytest.raises(LifecycleError, match="already holds"):
        rollback(world.ctx, world.event_id(), MODEL, to_version=v1)
