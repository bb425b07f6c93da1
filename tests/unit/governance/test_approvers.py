"""Approvals carry a person; ``require_distinct_approver`` keeps four eyes (docs/processing.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handler.governance.guard import guard_alias
from handler.governance.lifecycle import approval_of, person, promote
from handler.governance.registry_events import on_tag_set
from handler.governance.runs import govern_run
from handler.notify.wording import headline
from tests.unit.governance.conftest import MODEL, make_world, policy

FOUR_EYES = {"alias": "champion", "approval_tag": "approval", "require_distinct_approver": True}


@pytest.fixture
def four_eyes(tmp_path, template_db):
    """The churn policy with ``require_distinct_approver: true``."""
    w = make_world(tmp_path, template_db, [policy(promotion=FOUR_EYES)])
    yield w
    w.store.dispose()


def authored(world, run_id: str, author: str, recall: float = 0.8) -> str:
    """Govern a passing run whose author (``mlflow.user``) is ``author``; return its version."""
    world.run(run_id, recall=recall, tags={"git_commit": "abc123", "mlflow.user": author})
    govern_run(world.ctx, world.event_id(), run_id)
    return world.registry.find_version_for_run(MODEL, run_id).version


def approve(world, version: str, value: str):
    """A reviewer sets the approval tag in the registry; its webhook arrives."""
    world.registry.set_tag(MODEL, version, "approval", value)
    return on_tag_set(world.ctx, world.event_id(), MODEL, version, "approval", value)


def headlines(world) -> list[str]:
    """The notification headlines queued so far, oldest first."""
    due = world.store.claim_due(now=datetime.now(UTC) + timedelta(days=1), limit=100)
    return [headline(m.outcome) for m in sorted(due, key=lambda m: m.id)]


def test_an_approval_tag_naming_the_approver_promotes_and_names_them(world):
    v1 = authored(world, "r1", "alice")
    result = approve(world, v1, "approved:bob")
    assert result.status == "done", result
    assert world.registry.holder(MODEL, "champion") == v1
    entry = world.audit("promoted")[0]
    assert (entry["actor"], entry["detail"]["approver"]) == ("bob", "bob")
    assert "approved by bob" in headlines(world)[-1]
    assert world.store.compare_versions(MODEL)["versions"][0]["approver"] == "bob"


def test_promote_by_hand_records_the_approver_in_the_audit_tag_and_comparison(world):
    v1 = authored(world, "r1", "alice")
    promote(world.ctx, world.event_id(), MODEL, v1, actor="carol")
    assert world.audit("promoted")[0]["actor"] == "carol"
    assert world.registry.tags_of(MODEL, v1)["approval"] == "approved:carol"
    assert world.store.compare_versions(MODEL)["versions"][0]["approver"] == "carol"
    assert "promoted by carol" in headlines(world)[-1]


def test_an_allowed_hand_move_names_the_approver_in_the_comparison(world):
    v1 = authored(world, "r1", "alice")
    world.registry.set_tag(MODEL, v1, "approval", "approved:dave")  # no webhook: a hand move next
    world.registry.set_alias(MODEL, "champion", v1)
    guard_alias(world.ctx, world.event_id(), world.ctx.policy(MODEL), "champion", v1)
    assert world.registry.holder(MODEL, "champion") == v1
    assert world.store.compare_versions(MODEL)["versions"][0]["approver"] == "dave"


def test_an_approval_by_the_runs_author_is_refused(four_eyes):
    v1 = authored(four_eyes, "r1", "alice")
    result = approve(four_eyes, v1, "approved:alice")
    assert "approved by its author alice" in (result.reason or "")
    assert four_eyes.registry.holder(MODEL, "champion") is None
    note = four_eyes.registry.tags_of(MODEL, v1)["reghook.approval"]
    assert note.startswith("refused: ") and "author" in note
    entry = four_eyes.audit("approval_refused")[0]
    assert entry["actor"] == "alice"
    assert four_eyes.outcomes()[-1] == "approval_refused"


def test_promote_by_the_runs_author_is_refused_whatever_the_prefix(four_eyes):
    v1 = authored(four_eyes, "r1", "alice")
    result = promote(four_eyes.ctx, four_eyes.event_id(), MODEL, v1, actor="cli:Alice")
    assert "refused" in (result.reason or "")
    assert four_eyes.registry.holder(MODEL, "champion") is None
    assert four_eyes.registry.tags_of(MODEL, v1).get("approval") is None  # not approved
    assert four_eyes.outcomes()[-1] == "approval_refused"


def test_an_approval_by_someone_else_is_allowed(four_eyes):
    v1 = authored(four_eyes, "r1", "alice")
    assert approve(four_eyes, v1, "approved:bob").status == "done"
    assert four_eyes.registry.holder(MODEL, "champion") == v1
    v2 = authored(four_eyes, "r2", "alice", recall=0.81)
    promote(four_eyes.ctx, four_eyes.event_id(), MODEL, v2, actor="api:bob@example.com")
    assert four_eyes.registry.holder(MODEL, "champion") == v2


def test_an_anonymous_approval_is_refused_when_four_eyes_are_required(four_eyes):
    v1 = authored(four_eyes, "r1", "alice")
    result = approve(four_eyes, v1, "approved")
    assert "names no approver" in (result.reason or "")
    assert four_eyes.registry.holder(MODEL, "champion") is None


def test_a_hand_move_onto_a_version_its_author_approved_is_reverted(four_eyes):
    v1 = authored(four_eyes, "r1", "alice")
    four_eyes.registry.set_tag(MODEL, v1, "approval", "approved:alice")
    four_eyes.registry.set_alias(MODEL, "champion", v1)
    result = guard_alias(four_eyes.ctx, four_eyes.event_id(), four_eyes.ctx.policy(MODEL),
                         "champion", v1)
    assert "author" in (result.reason or "")
    assert four_eyes.registry.holder(MODEL, "champion") is None


def test_approval_values_and_actors_name_people():
    assert approval_of("Approved") == ("approved", None)
    assert approval_of("approved: bob ") == ("approved", "bob")
    assert approval_of("approved:cli:bob") == ("approved", "cli:bob")
    assert [person(a) for a in ("cli:bob", "api:b@x.io", "bob", "api", "mlflow", "cli", None)] == [
        "bob", "b@x.io", "bob", None, None, None, None]
