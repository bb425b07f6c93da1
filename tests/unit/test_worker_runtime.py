"""The worker loop (docs/processing.md): claim → process → done / retry with backoff / failed; leases.

A fake process function stands in for governance; the store is the real
SQLite one, so claims, leases and fencing are the real queries.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from handler.errors import PermanentError, TransientError
from handler.governance.results import done, ignored
from handler.policy import PolicyFile
from handler.worker.runtime import WorkerRuntime, backoff_s
from tests.support.store_queries import touch_event

MODEL = "churn"


@pytest.fixture
def queued(store) -> str:
    """One queued run.finished event about MODEL."""
    event_id, _ = store.ingest(source="events", event_type="run.finished", idempotency_key="k1",
                               status="queued", headers={},
                               body=json.dumps({"type": "run.finished", "run_id": "r1",
                                                "model": MODEL}))
    return event_id


def runtime(store, settings, process, owner: str = "worker-a", **overrides) -> WorkerRuntime:
    tuned = settings.model_copy(update={"backoff_base_s": 0.0, "backoff_max_s": 0.0,
                                        "max_attempts": 3, **overrides})
    policies = PolicyFile.model_validate({"models": [{"name": MODEL}]})
    return WorkerRuntime(store, tuned, process, owner=owner, policies=policies)


def raising(exc: Exception):
    def process(_event):
        raise exc
    return process


def outcomes(store) -> list[tuple[str, str, str]]:
    return [(m["channel"], m["model"], m["outcome"]) for m in store.list_outbox()]


def test_a_processed_event_is_finished_with_its_result(store, settings, queued):
    seen = []
    worker = runtime(store, settings, lambda event: seen.append(event) or done("v1 passed"))
    assert worker.process_one() is True
    assert worker.process_one() is False  # nothing else is due
    event = store.get_event(queued)
    assert (event["status"], event["reason"], event["attempts"]) == ("done", "v1 passed", 1)
    assert [(e.id, e.type, e.attempts, e.original_source) for e in seen] == [
        (queued, "run.finished", 1, "events")]
    assert [a["outcome"] for a in event["attempt_log"]] == ["done"]


def test_an_ignored_event_keeps_its_reason(store, settings, queued):
    runtime(store, settings, lambda _e: ignored("run r1 is FAILED")).process_one()
    event = store.get_event(queued)
    assert (event["status"], event["reason"]) == ("ignored", "run r1 is FAILED")


def test_transient_error_requeues_with_backoff_and_counts_the_attempt(store, settings, queued):
    worker = runtime(store, settings, raising(TransientError("MLflow unreachable")),
                     backoff_base_s=10.0, backoff_max_s=60.0)
    before = datetime.now(UTC)
    worker.process_one()
    event = store.get_event(queued)
    assert (event["status"], event["attempts"], event["last_error"]) == (
        "queued", 1, "MLflow unreachable")
    due = datetime.fromisoformat(event["next_attempt_at"].replace("Z", "+00:00"))
    # First retry: base delay (full jitter between base and base·2^0).
    assert before + timedelta(seconds=9) < due < datetime.now(UTC) + timedelta(seconds=11)
    assert worker.process_one() is False  # not due before its backoff ends
    assert [a["outcome"] for a in event["attempt_log"]] == ["retry"]
    assert outcomes(store) == []


def test_transient_errors_fail_the_event_after_max_attempts_and_announce_it(store, settings,
                                                                             queued):
    worker = runtime(store, settings, raising(TransientError("MLflow unreachable")))
    for attempt in (1, 2):
        worker.process_one()
        event = store.get_event(queued)
        assert (event["status"], event["attempts"]) == ("queued", attempt)
    worker.process_one()
    event = store.get_event(queued)
    assert event["status"] == "failed"
    assert event["last_error"] == "retries exhausted after 3 attempts: MLflow unreachable"
    assert [a["outcome"] for a in event["attempt_log"]] == ["retry", "retry", "failed"]
    assert outcomes(store) == [("log", MODEL, "failed")]
    assert worker.process_one() is False  # a failed event is never claimed again


def test_permanent_error_fails_the_event_at_once(store, settings, queued):
    worker = runtime(store, settings, raising(PermanentError("run r1 has no model named 'x'")))
    worker.process_one()
    event = store.get_event(queued)
    assert (event["status"], event["attempts"]) == ("failed", 1)
    assert event["last_error"] == "run r1 has no model named 'x'"
    assert outcomes(store) == [("log", MODEL, "failed")]


def test_unexpected_exception_is_retried_like_a_transient_error(store, settings, queued):
    worker = runtime(store, settings, raising(KeyError("run_id")))
    worker.process_one()
    event = store.get_event(queued)
    assert (event["status"], event["attempts"]) == ("queued", 1)
    assert event["last_error"] == "KeyError: 'run_id'"
    worker.process_one()
    worker.process_one()
    assert store.get_event(queued)["status"] == "failed"


def test_a_live_lease_keeps_other_workers_off(store, settings, queued):
    assert store.claim_event("worker-a", lease_s=60) is not None
    other = runtime(store, settings, lambda _e: done(), owner="worker-b")
    assert other.process_one() is False
    assert store.get_event(queued)["status"] == "processing"


def test_an_expired_lease_lets_another_worker_take_the_event_over(store, settings, queued):
    dead = store.claim_event("worker-a", lease_s=0.05)
    assert dead is not None and dead.attempts == 1
    time.sleep(0.1)  # the lease runs out: worker-a is presumed dead
    successor = runtime(store, settings, lambda _e: done("v1 passed"), owner="worker-b")
    assert successor.process_one() is True
    event = store.get_event(queued)
    assert (event["status"], event["attempts"]) == ("done", 2)
    assert [a["worker"] for a in event["attempt_log"]] == ["worker-a", "worker-b"]
    # worker-a was only slow: its late result is fenced off and changes nothing.
    assert store.finish_event(queued, "worker-a", "failed", error="late") is False
    assert store.retry_event(queued, "worker-a", "late", 0) is False
    assert store.get_event(queued)["status"] == "done"


def test_a_worker_that_lost_its_lease_does_not_announce_a_failure(store, settings, queued):
    def overtaken(_event):
        # While this worker is stuck, its lease ends and another worker finishes the event.
        touch_event(store, queued, lease_until=datetime.now(UTC) - timedelta(seconds=1))
        claimed = store.claim_event("worker-b", lease_s=60)
        assert claimed is not None
        store.finish_event(queued, "worker-b", "done", reason="v1 passed")
        raise PermanentError("too late")

    runtime(store, settings, overtaken).process_one()
    assert store.get_event(queued)["status"] == "done"
    assert outcomes(store) == []


@pytest.mark.parametrize("attempt", [1, 2, 5, 20])
def test_backoff_is_exponential_with_full_jitter_and_capped(attempt):
    ceiling = min(600.0, 2.0 * 2 ** (attempt - 1))
    for _ in range(50):
        assert 2.0 <= backoff_s(attempt, 2.0, 600.0) <= ceiling
