"""The same delivery arriving many times at once is stored once (docs/routes.md).

A real gunicorn with four worker processes, fifty threads released together
by a barrier, once over SQLite (one host) and once over PostgreSQL.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests

from handler.store import Store
from tests.conftest import MLFLOW_SECRET
from tests.support.web import mlflow_delivery, running_reghook

SENDERS = 50


def send_all_at_once(url: str, body: bytes, headers: dict[str, str]) -> list[tuple[int, dict]]:
    """POST the same request from SENDERS threads released at the same moment."""
    barrier = threading.Barrier(SENDERS)
    answers: list[tuple[int, dict] | Exception] = [RuntimeError("not sent")] * SENDERS

    def send(slot: int) -> None:
        with requests.Session() as session:
            try:
                barrier.wait(timeout=30)
                response = session.post(url, data=body, headers=headers, timeout=60)
                answers[slot] = (response.status_code, response.json())
            except (requests.RequestException, threading.BrokenBarrierError, ValueError) as exc:
                # Reported below, with the others, rather than lost in a thread.
                answers[slot] = exc

    threads = [threading.Thread(target=send, args=(slot,)) for slot in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    failures = [a for a in answers if isinstance(a, Exception)]
    assert not failures, failures[:3]
    return answers  # type: ignore[return-value]


def assert_stored_once(database_url: str, workdir: Path) -> None:
    env = {"REGHOOK_DATABASE_URL": database_url, "REGHOOK_MLFLOW_SECRETS": MLFLOW_SECRET}
    body, headers = mlflow_delivery(MLFLOW_SECRET, {
        "entity": "model_version", "action": "created",
        "timestamp": "2026-11-26T20:55:05.790907+00:00",
        "data": {"name": "churn", "version": "3", "source": "models:/m-6a6da6c2",
                 "run_id": "02ad50577ae84b118e8ff9bee7d9711f", "tags": {}, "description": None}})
    with running_reghook(env, workdir, workers=4) as server:
        answers = send_all_at_once(f"{server.url}/webhooks/mlflow", body, headers)
        log = server.log()
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * (SENDERS - 1) + [202], log
    assert {answer["event_id"] for _, answer in answers} == {answers[0][1]["event_id"]}
    assert sorted(answer["status"] for _, answer in answers) == (
        ["duplicate"] * (SENDERS - 1) + ["queued"])
    store = Store.from_url(database_url)
    try:
        assert store.count_events() == 1
        stored = store.get_event(answers[0][1]["event_id"])
        assert stored["idempotency_key"] == headers["X-MLflow-Delivery-Id"]
        assert stored["status"] == "queued"
    finally:
        store.dispose()


@pytest.mark.slow
def test_same_delivery_sent_fifty_times_at_once_is_stored_once_on_sqlite(sqlite_url, tmp_path):
    assert_stored_once(sqlite_url, tmp_path / "gunicorn")


@pytest.mark.slow
@pytest.mark.postgres
def test_same_delivery_sent_fifty_times_at_once_is_stored_once_on_postgresql(postgres_url,
                                                                            tmp_path):
    assert_stored_once(postgres_url, tmp_path / "gunicorn")
