"""Versions registered by others, echoes of reghook's own writes, and the routing table."""

from __future__ import annotations

import json

import pytest

from handler.errors import PermanentError
from handler.governance.registry_events import on_alias_deleted, on_tag_set
from handler.governance.runs import govern_run
from handler.governance.tags import EVENT_TAG, STATUS_TAG
from handler.governance.versions import govern_version
from tests.fakes import FakeVersion
from tests.unit.governance.conftest import MODEL


def mlflow_body(event_type: str, **data) -> str:
    entity, action = event_type.rsplit(".", 1)
    return json.dumps({"entity": entity, "action": action, "timestamp": "t", "data": data})


def test_a_version_registered_by_hand_is_governed_once(world):
    world.run("r1")
    v1 = world.registry.register_by_hand(MODEL, "r1")
    assert govern_version(world.ctx, world.event_id(), MODEL, v1).status == "done"
    assert world.registry.tags_of(MODEL, v1)[STATUS_TAG] == "passed"
    assert world.registry.holder(MODEL, "staging") == v1
    again = govern_version(world.ctx, world.event_id(), MODEL, v1)
    assert again.status == "ignored" and "already governed" in (again.reason or "")


def test_the_echo_of_reghooks_own_registration_is_recognised_without_registry_calls(world):
    world.run("r1")
    govern_run(world.ctx, world.event_id(), "r1")
    calls = len(world.registry.log)
    tags = world.registry.tags_of(MODEL, "1")
    result = govern_version(world.ctx, world.event_id(), MODEL, "1", tags)
    assert result.status == "ignored" and "echo" in (result.reason or "")
    assert len(world.registry.log) == calls


def test_a_made_up_event_id_tag_does_not_skip_validation(world):
    world.run("r1")
    v1 = world.registry.register_by_hand(MODEL, "r1", tags={EVENT_TAG: "evt_made_up"})
    result = govern_version(world.ctx, world.event_id(), MODEL, v1, {EVENT_TAG: "evt_made_up"})
    assert result.status == "done"


def test_a_version_without_a_run_cannot_be_governed(world):
    world.registry.versions[(MODEL, "1")] = FakeVersion(MODEL, "1", None, "s3://somewhere")
    with pytest.raises(PermanentError, match="no run"):
        govern_version(world.ctx, world.event_id(), MODEL, "1")


def test_every_tag_echo_of_a_governed_version_is_consumed_silently(world):
    world.run("r1")
    v1 = world.registry.register_by_hand(MODEL, "r1")  # governed by tag writes, not at creation
    govern_version(world.ctx, world.event_id(), MODEL, v1)
    writes = len(world.registry.writes())
    echoes = [args for _method, args in world.registry.writes("set_tag")]
    assert echoes
    for model, version, key, value in echoes:
        assert on_tag_set(world.ctx, world.event_id(), model, version, key, value).status == "ignored"
    assert len(world.registry.writes()) == writes
    assert world.audit("skipped") == []


def test_a_hand_removed_alias_is_recorded(world):
    world.run("r1")
    govern_run(world.ctx, world.event_id(), "r1")
    world.registry.delete_alias(MODEL, "staging")
    assert on_alias_deleted(world.ctx, world.event_id(), MODEL, "staging").status == "done"
    assert world.audit("alias_removed")[0]["version"] == "1"


def test_models_without_a_policy_are_left_alone(world):
    assert on_tag_set(world.ctx, world.event_id(), "other", "1", "approval",
                      "approved").status == "ignored"
    assert govern_version(world.ctx, world.event_id(), "other", "1").status == "ignored"
    assert world.registry.writes() == []


def test_the_router_acts_on_mlflow_registry_events_and_ignores_others(world):
    world.run("r1")
    v1 = world.registry.register_by_hand(MODEL, "r1")
    created = world.dispatch("mlflow", "model_version.created",
                             mlflow_body("model_version.created", name=MODEL, version=v1,
                                         source="s", run_id="r1", tags={}))
    assert created.status == "done"
    unknown = world.dispatch("mlflow", "prompt.created", "{}")
    assert unknown.status == "ignored" and "does not act on prompt.created" in unknown.reason
    recorded = world.dispatch("mlflow", "registered_model.created",
                              mlflow_body("registered_model.created", name=MODEL))
    assert recorded.reason == "audit only"


def test_a_stored_body_that_is_not_json_fails_permanently(world):
    with pytest.raises(PermanentError):
        world.dispatch("events", "run.finished", "not json")


def test_a_copied_event_id_of_a_real_governed_version_does_not_skip_validation(world):
    world.run("r1")
    govern_run(world.ctx, world.event_id(), "r1")
    copied = world.registry.tags_of(MODEL, "1")  # a real reghook.event_id and run tag
    world.run("r2", recall=0.5)
    v2 = world.registry.register_by_hand(MODEL, "r2", tags=copied)
    result = govern_version(world.ctx, world.event_id(), MODEL, v2, copied)
    assert result.status == "done"
    assert world.registry.tags_of(MODEL, v2)[STATUS_TAG] == "failed"
