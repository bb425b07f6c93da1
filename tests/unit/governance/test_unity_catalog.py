"""Run finished on Unity Catalog: signature first, asynchronous registration, UC's own failures."""

from __future__ import annotations

import pytest

from handler.errors import PermanentError, TransientError
from handler.governance.runs import govern_run
from handler.governance.tags import EVENT_TAG, RUN_TAG, STATUS_TAG
from tests.unit.governance.conftest import make_world, policy

UC_MODEL = "workspace.default.quickbite_churn_predictor"


@pytest.fixture
def uc(tmp_path, template_db):
    w = make_world(tmp_path, template_db, [policy(name=UC_MODEL)], unity_catalog=True)
    yield w
    w.store.dispose()


def audit(world, kind=None):
    return [e for e in world.store.audit_trail(UC_MODEL) if kind is None or e["kind"] == kind]


def test_a_model_without_a_signature_is_rejected_before_anything_reaches_the_registry(uc):
    uc.run("r1", signature=None)
    result = govern_run(uc.ctx, uc.event_id(), "r1")
    assert result.status == "done" and "Unity Catalog requires a model signature" in result.reason
    assert uc.registry.writes() == []  # no registered model, no version
    [entry] = audit(uc, "rejected")
    assert entry["detail"]["registered"] is False
    assert entry["detail"]["gates"][0]["gate"] == "signature"
    assert uc.outcomes() == ["rejected"]


def test_a_signature_with_inputs_only_is_rejected_too(uc):
    uc.run("r1")
    uc.registry.inputs_only.add("runs:/r1/model")
    govern_run(uc.ctx, uc.event_id(), "r1")
    assert uc.registry.writes("create_version") == []


def test_a_pending_version_is_waited_out_and_only_then_says_passed(uc):
    uc.run("r1")
    uc.registry.created_status = "PENDING_REGISTRATION"
    event_id = uc.event_id()
    with pytest.raises(TransientError, match="PENDING_REGISTRATION"):
        govern_run(uc.ctx, event_id, "r1")
    created_with = uc.registry.writes("create_version")[0][1][2]
    assert set(created_with) == {RUN_TAG, EVENT_TAG}  # no verdict before READY
    assert STATUS_TAG not in uc.registry.tags_of(UC_MODEL, "1")
    uc.registry.versions[(UC_MODEL, "1")].status = "READY"
    assert govern_run(uc.ctx, event_id, "r1").status == "done"  # the retry
    assert uc.registry.tags_of(UC_MODEL, "1")[STATUS_TAG] == "passed"
    assert len(uc.registry.writes("create_version")) == 1
    assert [e["kind"] for e in audit(uc)][:2] == ["registered", "validated"]


def test_a_failed_registration_fails_the_event_with_uc_s_message_and_never_says_passed(uc):
    uc.run("r1")
    uc.registry.created_status = "FAILED_REGISTRATION"
    original = uc.registry._new_version

    def failing(*args, **kwargs):
        stored = original(*args, **kwargs)
        stored.status_message = "Storage location is not accessible"
        return stored

    uc.registry._new_version = failing
    with pytest.raises(PermanentError, match="Storage location is not accessible"):
        govern_run(uc.ctx, uc.event_id(), "r1")
    assert STATUS_TAG not in uc.registry.tags_of(UC_MODEL, "1")
