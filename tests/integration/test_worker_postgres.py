"""Worker processes on PostgreSQL: woken by NOTIFY, never two claims of one event."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from handler.governance.results import done
from handler.settings import Settings
from handler.store import Store
from handler.worker.runtime import WorkerRuntime

pytestmark = pytest.mark.postgres


def _ingest(store: Store) -> str:
    event_id, _ = store.ingest(source="events", event_type="run.finished",
                               idempotency_key=uuid.uuid4().hex, status="queued",
                               body=json.dumps({"type": "run.finished", "run_id": "abc"}),
                               headers={})
    return event_id


def test_worker_in_another_process_is_woken_by_notify_not_by_polling(postgres_url):
    # A poll interval far longer than the wait below: only NOTIFY can explain a quick pick-up.
    settings = Settings(database_url=postgres_url, poll_interval_s=120)
    worker_store, web_store = Store.from_url(postgres_url), Store.from_url(postgres_url)
    runtime = WorkerRuntime(worker_store, settings, lambda event: done("ok"))
    runtime.start_thread()
    try:
        time.sleep(1.0)  # let the listener subscribe before the event is stored
        event_id = _ingest(web_store)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and web_store.get_event(event_id)["status"] != "done":
            time.sleep(0.1)
        assert web_store.get_event(event_id)["status"] == "done"
    finally:
        runtime.stop()
        worker_store.dispose()
        web_store.dispose()


def test_concurrent_claims_on_postgres_take_each_event_exactly_once(postgres_url):
    store = Store.from_url(postgres_url)
    ids = {_ingest(store) for _ in range(40)}
    claimed: list[str] = []
    lock = threading.Lock()

    def claim_all(owner: str) -> None:
        own = Store.from_url(postgres_url)
        while (event := own.claim_event(owner, lease_s=300)) is not None:
            with lock:
                claimed.append(event.id)
            own.finish_event(event.id, owner, "done")
        own.dispose()

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(ids)
    assert store.counts_by_status() == {"done": 40}
    store.dispose()
