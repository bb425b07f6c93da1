"""Run finished → exactly one version, validated, tagged and aliased (docs/processing.md)."""

from __future__ import annotations

import json

import pytest

from handler.errors import TransientError
from handler.governance.runs import govern_run
from handler.governance.tags import EVENT_TAG, GATES_TAG, RUN_TAG, STATUS_TAG
from tests.unit.governance.conftest import MODEL, make_world, policy


def test_passing_run_is_registered_once_with_governance_tags_and_staging(world):
    world.run("r1")
    result = govern_run(world.ctx, world.event_id(), "r1")
    assert result.status == "done" and "passed" in (result.reason or "")
    assert len(world.registry.writes("create_version")) == 1
    tags = world.registry.tags_of(MODEL, "1")
    assert tags[STATUS_TAG] == "passed" and tags[RUN_TAG] == "r1"
    assert tags["deployment_mode"] == "batch" and "recall 0.8>=0.7 ok" in tags[GATES_TAG]
    assert world.registry.holder(MODEL, "staging") == "1"
    assert world.registry.holder(MODEL, "champion") is None  # only by approval
    assert [e["kind"] for e in world.audit()] == ["registered", "validated", "tagged", "alias_set"]
    assert world.outcomes() == ["registered"]


def test_failing_run_is_registered_failed_without_staging(world):
    world.run("r1", recall=0.5)
    govern_run(world.ctx, world.event_id(), "r1")
    tags = world.registry.tags_of(MODEL, "1")
    assert tags[STATUS_TAG] == "failed" and tags["deployment_mode"] == "blocked"
    assert world.registry.holder(MODEL, "staging") is None
    assert world.outcomes() == ["rejected"]


def test_register_passing_keeps_a_failing_run_out_of_the_registry(tmp_path, template_db):
    w = make_world(tmp_path, template_db, [policy(register="passing")])
    w.run("r1", recall=0.5)
    result = govern_run(w.ctx, w.event_id(), "r1")
    assert "not registered" in (result.reason or "")
    assert w.registry.writes() == []
    assert [e["kind"] for e in w.audit()] == ["rejected"]
    assert w.outcomes() == ["rejected"]


def test_duplicate_and_replayed_events_create_one_version_and_write_nothing_new(world):
    world.run("r1")
    govern_run(world.ctx, world.event_id(), "r1")
    writes = len(world.registry.writes())
    for _ in range(5):
        govern_run(world.ctx, world.event_id(), "r1")
    assert len(world.registry.writes("create_version")) == 1
    assert len(world.registry.writes()) == writes
    assert world.outcomes() == ["registered"]


def test_a_crash_after_registering_is_finished_by_the_next_attempt_without_a_second_version(world):
    world.run("r1")
    event_id = world.event_id()
    world.registry.fail_next("set_alias", TransientError("killed before the alias"))
    with pytest.raises(TransientError):
        govern_run(world.ctx, event_id, "r1")
    assert world.audit() == []  # nothing recorded: the version exists, its records do not
    govern_run(world.ctx, event_id, "r1")  # the retry of the same event
    assert len(world.registry.writes("create_version")) == 1
    assert world.registry.holder(MODEL, "staging") == "1"
    assert [e["kind"] for e in world.audit()][:2] == ["registered", "validated"]


def test_an_expired_claim_of_a_killed_worker_is_taken_over_and_its_version_adopted(
        tmp_path, template_db):
    first = make_world(tmp_path, template_db, [policy()], owner="worker-1")
    first.ctx.lease_s = 0  # the claim expires at once, as after a SIGKILL and a lease
    first.run("r1")
    first.registry.fail_next("set_alias", RuntimeError("SIGKILL"))
    with pytest.raises(RuntimeError):
        govern_run(first.ctx, first.event_id(), "r1")
    second = make_world(tmp_path, template_db, [policy()], owner="worker-2")
    second.ctx.registry = first.registry
    govern_run(second.ctx, second.event_id(), "r1")
    assert len(first.registry.writes("create_version")) == 1
    assert first.registry.holder(MODEL, "staging") == "1"
    assert "registered" in [e["kind"] for e in second.audit()]


def test_a_run_claimed_by_another_live_worker_is_retried_later(tmp_path, template_db):
    first = make_world(tmp_path, template_db, [policy()], owner="worker-1")
    first.run("r1")
    first.store.claim_registration(MODEL, "r1", "worker-1", "evt_other", 300)
    second = make_world(tmp_path, template_db, [policy()], owner="worker-2")
    second.ctx.registry = first.registry
    with pytest.raises(TransientError, match="being registered by another worker"):
        govern_run(second.ctx, second.event_id(), "r1")
    assert first.registry.writes() == []


def test_a_running_run_is_retried_and_a_failed_run_ignored(world):
    world.run("r1", status="RUNNING")
    with pytest.raises(TransientError):
        govern_run(world.ctx, world.event_id(), "r1")
    world.run("r2", status="FAILED")
    assert govern_run(world.ctx, world.event_id(), "r2").status == "ignored"
    assert world.registry.writes() == []


def test_a_run_of_an_experiment_without_policy_is_ignored(world):
    world.run("r1", experiment_id="99")
    assert govern_run(world.ctx, world.event_id(), "r1").status == "ignored"


def test_the_policy_is_found_by_the_experiment_name(world):
    world.registry.experiments["7"] = "/Shared/exp-1"
    world.run("r1", experiment_id="7")
    assert govern_run(world.ctx, world.event_id(), "r1").status == "done"


def test_a_replayed_old_event_never_takes_staging_back_from_a_newer_version(world):
    world.run("r1")
    old_event = world.event_id()
    govern_run(world.ctx, old_event, "r1")
    world.run("r2", recall=0.81)
    govern_run(world.ctx, world.event_id(), "r2")
    assert world.registry.holder(MODEL, "staging") == "2"
    govern_run(world.ctx, old_event, "r1")
    assert world.registry.holder(MODEL, "staging") == "2"


def test_the_router_sends_run_finished_to_govern_run(world):
    world.run("r1")
    result = world.dispatch("events", "run.finished", json.dumps({"type": "run.finished",
                                                                  "run_id": "r1"}))
    assert result.status == "done"
    assert world.registry.tags_of(MODEL, "1")[EVENT_TAG].startswith("evt_")


def test_the_champion_is_read_once_per_event_when_a_version_is_adopted(world):
    world.run("r1")
    world.registry.register_by_hand(MODEL, "r1")  # registered before reghook saw the run
    result = govern_run(world.ctx, world.event_id(), "r1", MODEL)
    assert result.status == "done" and world.registry.writes("create_version") == []
    assert [m for m, _ in world.registry.log].count("version_by_alias") == 1


def test_a_failed_side_read_fails_the_attempt_before_any_write_and_the_retry_registers_once(world):
    world.run("r1")
    event_id = world.event_id()
    world.registry.fail_next("version_by_alias", TransientError("MLflow unavailable"))
    with pytest.raises(TransientError, match="MLflow unavailable"):
        govern_run(world.ctx, event_id, "r1", MODEL)
    assert world.registry.writes() == [] and world.audit() == []
    assert govern_run(world.ctx, event_id, "r1", MODEL).status == "done"
    assert len(world.registry.writes("create_version")) == 1
    assert world.registry.holder(MODEL, "staging") == "1"


def test_a_run_that_is_not_finished_writes_nothing_though_its_champion_was_read_ahead(world):
    world.run("r1", status="RUNNING")
    with pytest.raises(TransientError, match="still RUNNING"):
        govern_run(world.ctx, world.event_id(), "r1", MODEL)
    assert world.registry.writes() == []
    assert world.store.registering(MODEL, "r1") is False  # no claim taken
