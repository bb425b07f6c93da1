"""Stopping a worker (docs/processing.md): SIGTERM gives the event back at once; SIGKILL waits out the lease.

``tests/support/blocking_worker.py`` runs ``reghook worker``'s own entry
(``run_worker``) in a child process whose registry hangs in ``get_run``, as
a call stuck in network retries would; the test signals it while it holds
the event, then a second worker (in this process, over the same store and a
working fake registry) finishes the event.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from handler.bootstrap import build_worker
from handler.settings import Settings
from handler.store.tables import events
from tests.support.blocking_worker import POLICY, RUN_ID, registry_with_run
from tests.support.harness import wait_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    path = tmp_path / "reghook.yaml"
    path.write_text(POLICY)
    return path


def queue_run_finished(store) -> str:
    event_id, _ = store.ingest(source="events", event_type="run.finished", idempotency_key="k1",
                               status="queued", headers={},
                               body=json.dumps({"type": "run.finished", "run_id": RUN_ID}))
    return event_id


def lease_of(store, event_id: str) -> tuple[str, str | None, object]:
    """(status, lease owner, lease end) of one event."""
    with store.tx.read() as connection:
        row = connection.execute(events.select().where(events.c.id == event_id)).one()
    return row.status, row.lease_owner, row.lease_until


def blocked_worker(tmp_path: Path, url: str, policy: Path, *, lease_s: int,
                   port: int | None = None) -> subprocess.Popen[bytes]:
    """The hanging worker, started and waited for until it holds the event."""
    marker = tmp_path / "holding"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGHOOK_")}
    env.update(REGHOOK_DATABASE_URL=url, REGHOOK_POLICY=str(policy),
               REGHOOK_LEASE_S=str(lease_s), REGHOOK_WORKER_ID="doomed")
    if port is not None:
        env["REGHOOK_WORKER_PORT"] = str(port)
    process = subprocess.Popen([sys.executable, "-m", "tests.support.blocking_worker", str(marker)],
                               env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_for(marker.exists, timeout_s=60, what="the worker to hold the event")
    return process


def finish_elsewhere(url: str, policy: Path, lease_s: int) -> None:
    """A healthy worker takes the event as soon as it is due and finishes it."""
    settings = Settings(database_url=url, policy=str(policy), lease_s=lease_s)
    runtime = build_worker(settings, registry=registry_with_run(), owner="survivor")
    try:
        wait_for(runtime.process_one, timeout_s=30, what="the event to be due again")
    finally:
        runtime.store.dispose()


def test_a_sigtermed_worker_gives_its_event_back_at_once(tmp_path, sqlite_url, store, policy_path):
    event_id = queue_run_finished(store)
    port = free_port()
    worker = blocked_worker(tmp_path, sqlite_url, policy_path, lease_s=300, port=port)
    try:
        # Its own port shows the event it holds, read from the store.
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'reghook_queue_events{source="events",status="processing"} 1.0' in text
        signalled = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
    finally:
        worker.kill()
    assert time.monotonic() - signalled < 10  # not the 300 s lease
    assert lease_of(store, event_id) == ("queued", None, None)
    event = store.get_event(event_id)
    assert event["attempts"] == 0  # cut off, not failed: the attempt is given back
    assert [a["outcome"] for a in event["attempt_log"]] == ["released"]

    finish_elsewhere(sqlite_url, policy_path, lease_s=300)
    event = store.get_event(event_id)
    assert (event["status"], event["attempts"]) == ("done", 1)
    assert [a["worker"] for a in event["attempt_log"]] == ["doomed", "survivor"]


def test_a_sigkilled_workers_event_is_finished_by_another_after_the_lease(
        tmp_path, sqlite_url, store, policy_path):
    event_id = queue_run_finished(store)
    worker = blocked_worker(tmp_path, sqlite_url, policy_path, lease_s=3)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    assert lease_of(store, event_id)[:2] == ("processing", "doomed")

    finish_elsewhere(sqlite_url, policy_path, lease_s=3)
    event = store.get_event(event_id)
    assert (event["status"], event["attempts"]) == ("done", 2)
    assert [a["worker"] for a in event["attempt_log"]] == ["doomed", "survivor"]
