"""A worker's own port (docs/processing.md): /metrics, /healthz, /readyz.

The backlog gauges are read from the real store at scrape time, so two
workers over one store report the same store-wide values (take ``max()``,
never ``sum()``).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from handler.governance.results import done
from handler.outcomes import Outcome
from handler.store.engine import utcnow
from handler.worker.probes import Probes
from handler.worker.runtime import WorkerRuntime
from tests.support.store_queries import touch_event


def queue(store, source: str, key: str) -> str:
    event_id, _ = store.ingest(source=source, event_type="run.finished", idempotency_key=key,
                               status="queued", headers={},
                               body=json.dumps({"type": "run.finished", "run_id": key}))
    return event_id


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


@pytest.fixture
def probes_over(store, settings):
    started: list[Probes] = []

    def start(owner: str) -> tuple[WorkerRuntime, Probes]:
        runtime = WorkerRuntime(store, settings, lambda event: done(), owner=owner)
        probes = Probes(runtime, store, host="127.0.0.1", port=0, stale_after_s=60)
        probes.start()
        started.append(probes)
        return runtime, probes

    yield start
    for probes in started:
        probes.close()


def test_backlog_gauges_match_the_store_and_every_worker_reports_the_same(store, probes_over):
    old = queue(store, "events", "e1")
    queue(store, "events", "e2")
    queue(store, "mlflow", "m1")
    touch_event(store, old, received_at=utcnow() - timedelta(minutes=10))
    held = store.claim_event("someone-else", 300)  # the oldest due: "old", now processing
    assert held is not None and held.id == old
    failed = queue(store, "mlflow", "m2")
    store.claim_event("someone-else", 300, failed)
    store.finish_event(failed, "someone-else", "failed", "boom")
    store.record(outcomes=[("team", Outcome("registered", "churn", "1", "evt_1")),
                           ("team", Outcome("registered", "churn", "2", "evt_2"))])

    _, first = probes_over("worker-a")
    _, second = probes_over("worker-b")
    a, b = scrape(first.port), scrape(second.port)

    assert a[("reghook_store_up", ())] == 1
    assert a[("reghook_queue_events", (("source", "events"), ("status", "processing")))] == 1
    assert a[("reghook_queue_events", (("source", "events"), ("status", "queued")))] == 1
    assert a[("reghook_queue_events", (("source", "mlflow"), ("status", "queued")))] == 1
    assert 590 <= a[("reghook_queue_oldest_age_seconds", (("source", "events"),))] < 700
    assert a[("reghook_queue_oldest_age_seconds", (("source", "mlflow"),))] < 60
    assert a[("reghook_events_failed", ())] == 1
    assert a[("reghook_outbox_messages", (("status", "pending"),))] == 2
    assert a[("reghook_outbox_messages", (("status", "failed"),))] == 0
    gauges = {key for key in a if key[0].startswith(("reghook_queue_", "reghook_events_failed",
                                                      "reghook_outbox_messages"))}
    # Store-wide: the second worker reports the same numbers, not its own share.
    assert {k: a[k] for k in gauges if "age" not in k[0]} == \
        {k: b[k] for k in gauges if "age" not in k[0]}


def test_outcomes_and_durations_of_this_worker_are_on_its_port(store, probes_over):
    queue(store, "events", "e1")
    runtime, probes = probes_over("worker-a")
    before = scrape(probes.port)
    key = ("reghook_events_processed_total", (("outcome", "done"), ("type", "run.finished")))
    count = ("reghook_event_processing_seconds_count", (("type", "run.finished"),))
    assert runtime.process_one() is True
    after = scrape(probes.port)
    assert after[key] - before.get(key, 0) == 1
    assert after[count] - before.get(count, 0) == 1


def test_health_and_readiness(store, probes_over):
    runtime, probes = probes_over("worker-a")
    base = f"http://127.0.0.1:{probes.port}"
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
    runtime.last_tick -= 120  # the loop has not ticked for two minutes: stuck
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 503
    runtime.stop()
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 503
    assert requests.get(f"{base}/nope", timeout=5).status_code == 404


def test_a_store_that_does_not_answer_is_reported_not_raised(store, settings, tmp_path):
    from handler.store import Store

    unreachable = Store.from_url(f"sqlite:///{tmp_path / 'no-such-dir' / 'reghook.db'}")
    runtime = WorkerRuntime(store, settings, lambda event: done())
    probes = Probes(runtime, unreachable, host="127.0.0.1", port=0, stale_after_s=60)
    probes.start()
    try:
        assert requests.get(f"http://127.0.0.1:{probes.port}/readyz", timeout=5).status_code == 503
        assert scrape(probes.port)[("reghook_store_up", ())] == 0
    finally:
        probes.close()
        unreachable.dispose()
