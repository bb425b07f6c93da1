"""At most one model version per (model, run), whatever arrives at once (docs/processing.md).

The same run-finished event is re-sent by its sender (new idempotency keys),
duplicated (same keys) and governed synchronously at the same moment, first
with the embedded worker on SQLite, then with three workers on PostgreSQL.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import mlflow
import pytest
import requests

from handler.bootstrap import build_worker
from handler.errors import TransientError
from handler.governance.runs import govern_run
from handler.settings import Settings
from handler.store import Store
from tests.support.churn import log_churn_run
from tests.support.harness import policy_yaml, running_reghook, versions_of_run, wait_for
from tests.support.web import standard_delivery

pytestmark = pytest.mark.mlflow

EVENTS_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
RESENDS = 20
DUPLICATES = 10


@pytest.fixture(scope="module")
def run(mlflow_server):
    """One good churn run; each test governs it under its own model name."""
    experiment = f"/Shared/exactly_once_{uuid.uuid4().hex[:8]}"
    return SimpleNamespace(experiment=experiment,
                           logged=log_churn_run(mlflow_server.url, experiment, good=True))


def govern_in_thread(context, run_id: str, model: str, start: threading.Barrier):
    """``reghook govern``'s work, started at the same moment as the deliveries."""
    start.wait()
    try:
        return govern_run(context, f"evt_sync_{uuid.uuid4().hex[:8]}", run_id, model)
    except TransientError as exc:
        # Refusing while another worker holds the registration is correct: it
        # would be retried. Registering a second version would not be.
        return exc


def assert_one_governed_version(tracking_uri: str, model: str, run_id: str) -> None:
    client = mlflow.MlflowClient(tracking_uri)
    versions = versions_of_run(client, model, run_id)
    assert [v.version for v in versions] == ["1"], versions
    assert versions[0].tags["reghook.status"] == "passed"
    assert client.get_registered_model(model).aliases == {"staging": "1"}


def test_resent_duplicated_and_synchronously_governed_run_has_one_version(
        mlflow_server, run, tmp_path, monkeypatch):
    model = f"churn_{uuid.uuid4().hex[:8]}"
    body = {"type": "run.finished", "run_id": run.logged.run_id, "model": model}
    deliveries = [standard_delivery(EVENTS_SECRET, body) for _ in range(RESENDS)]
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, run.experiment),
                         monkeypatch=monkeypatch, events_secrets=EVENTS_SECRET) as reghook:
        sends = deliveries + deliveries[:DUPLICATES]
        start = threading.Barrier(len(sends) + 1)

        def post(delivery: tuple[bytes, dict[str, str]]) -> requests.Response:
            raw, headers = delivery
            start.wait()
            return requests.post(f"{reghook.url}/events", data=raw, headers=headers, timeout=60)

        with ThreadPoolExecutor(len(sends) + 1) as pool:
            synchronous = pool.submit(govern_in_thread, reghook.context, run.logged.run_id,
                                      model, start)
            responses = list(pool.map(post, sends))

        by_key: dict[str, list[tuple[int, str, str]]] = {}
        for (_, headers), response in zip(sends, responses, strict=True):
            answer = response.json()
            by_key.setdefault(headers["webhook-id"], []).append(
                (response.status_code, answer["status"], answer["event_id"]))
        assert len(by_key) == RESENDS
        for answers in by_key.values():
            # Whichever copy of a duplicated pair arrives first is stored; the other is recognised.
            expected = [(200, "duplicate"), (202, "queued")] if len(answers) == 2 else [(202, "queued")]
            assert sorted((code, status) for code, status, _ in answers) == expected
            assert len({event_id for _, _, event_id in answers}) == 1
        event_ids = [answers[0][2] for answers in by_key.values()]

        result = synchronous.result()
        assert isinstance(result, TransientError) or result.status == "done", result
        wait_for(lambda: all(reghook.event(e)["status"] in ("done", "failed") for e in event_ids),
                 120, "every re-sent event to be processed")
        assert {reghook.event(e)["status"] for e in event_ids} == {"done"}
        assert {reghook.event(e)["reason"] for e in event_ids} == {"v1 passed"}
        assert_one_governed_version(mlflow_server.url, model, run.logged.run_id)
        registered = [e for e in reghook.store.audit_trail(model) if e["kind"] == "registered"]
        assert len(registered) == 1
        # Each outcome is announced once, however often the run was governed.
        assert [m["outcome"] for m in reghook.store.list_outbox(model=model)] == ["registered"]


@pytest.mark.postgres
def test_three_workers_on_postgres_register_one_version(mlflow_server, run, postgres_url,
                                                        tmp_path, monkeypatch):
    model = f"churn_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_yaml(model, run.experiment))
    workers = []
    for n in range(3):
        settings = Settings(database_url=postgres_url, policy=str(policy), worker_id=f"worker-{n}",
                            backoff_base_s=0.2, backoff_max_s=1, poll_interval_s=0.1)
        workers.append(build_worker(settings, Store.from_url(postgres_url)))
    intake = Store.from_url(postgres_url)
    body = json.dumps({"type": "run.finished", "run_id": run.logged.run_id, "model": model})
    keys = [f"msg_{uuid.uuid4().hex}" for _ in range(RESENDS)]
    try:
        for worker in workers:
            worker.start_thread()
        start = threading.Barrier(RESENDS + DUPLICATES + 1)

        def deliver(key: str) -> tuple[str, bool]:
            start.wait()
            return intake.ingest(source="events", event_type="run.finished", idempotency_key=key,
                                 status="queued", body=body, headers={})

        with ThreadPoolExecutor(RESENDS + DUPLICATES + 1) as pool:
            synchronous = pool.submit(govern_in_thread, workers[0].context, run.logged.run_id,
                                      model, start)
            stored = list(pool.map(deliver, keys + keys[:DUPLICATES]))

        event_ids = {event_id for event_id, _ in stored}
        assert len(event_ids) == RESENDS
        assert sum(created for _, created in stored) == RESENDS
        result = synchronous.result()
        assert isinstance(result, TransientError) or result.status == "done", result
        wait_for(lambda: all(intake.get_event(e)["status"] in ("done", "failed")
                             for e in event_ids), 120, "every re-sent event to be processed")
        assert {intake.get_event(e)["status"] for e in event_ids} == {"done"}
        assert_one_governed_version(mlflow_server.url, model, run.logged.run_id)
        assert [m["outcome"] for m in intake.list_outbox(model=model)] == ["registered"]
    finally:
        for worker in workers:
            worker.stop()
            worker.store.dispose()
        intake.dispose()
