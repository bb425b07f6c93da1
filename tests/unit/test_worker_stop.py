"""A stopping worker (docs/processing.md): long waits end at once and the event is given back."""

from __future__ import annotations

import json
import threading
import time

import pytest

from handler.errors import TransientError
from handler.governance.ports import VersionInfo
from handler.worker.runtime import WorkerRuntime


@pytest.fixture
def queued(store) -> str:
    event_id, _ = store.ingest(source="events", event_type="run.finished", idempotency_key="k1",
                               status="queued", headers={},
                               body=json.dumps({"type": "run.finished", "run_id": "r1"}))
    return event_id


def test_an_event_cut_short_by_stop_is_released_not_retried(store, settings, queued):
    stopping = threading.Event()

    def interrupted_wait(_event):
        stopping.set()  # SIGTERM arrives while a version is pending
        raise TransientError("churn v1 still PENDING_REGISTRATION (the worker is stopping)")

    worker = WorkerRuntime(store, settings, interrupted_wait, owner="w", stopping=stopping)
    assert worker.process_one() is True
    event = store.get_event(queued)
    assert (event["status"], event["attempts"], event["last_error"]) == ("queued", 0, None)
    assert [a["outcome"] for a in event["attempt_log"]] == ["released"]
    assert store.next_event_due_in() == 0.0  # due now, for the next worker


def test_a_release_by_a_worker_whose_lease_was_lost_changes_nothing(store, queued):
    assert store.claim_event("first", 300) is not None
    assert store.release_event(queued, "someone-else") is False
    assert store.get_event(queued)["status"] == "processing"


def test_the_registry_wait_for_a_pending_version_ends_when_the_worker_stops():
    from handler.registry import MlflowRegistry

    stopping = threading.Event()
    registry = MlflowRegistry(tracking_uri="http://127.0.0.1:9", interrupt=stopping)
    pending = VersionInfo("churn", "1", "r1", "runs:/r1/model", "PENDING_REGISTRATION", {}, ())
    threading.Timer(0.2, stopping.set).start()
    started = time.monotonic()
    with pytest.raises(TransientError, match="stopping"):
        registry.wait_ready(pending, timeout_s=300)
    assert time.monotonic() - started < 5
