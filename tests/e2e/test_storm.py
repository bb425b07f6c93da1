"""A delivery storm over the deployed shape: two gunicorn web processes, three workers, one PostgreSQL.

1,000 deliveries: a ``run.finished`` for each of 20 real runs on the
session's mlflow server, and MLflow-shaped registry events signed like the
server signs them, 30% of them sent again (a sender's retry, to either web
process). Then: every distinct event is stored once and finished, once; one
version per run; no lease left held; and the web processes' delivery
counters (prometheus multiprocess mode, added up per gunicorn arbiter by
handler/metrics.py) add up to what was sent.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import mlflow
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from handler.store import Store
from handler.store.tables import events, registrations
from tests.conftest import EVENTS_SECRET, MLFLOW_SECRET
from tests.support.churn import log_churn_run
from tests.support.harness import policy_yaml, versions_of_run, wait_for
from tests.support.web import mlflow_delivery, running_reghook, standard_delivery

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.mlflow]

REGHOOK = Path(sys.executable).parent / "reghook"
RUNS = 20
DELIVERIES = 1000
DUPLICATES = 300  # 30%: the same delivery id sent again


def distinct_deliveries(model: str, run_ids: list[str]) -> list[tuple[str, bytes, dict]]:
    """(route, body, headers) of each distinct event: the runs, then registry events."""
    sent = [("/events", *standard_delivery(
        EVENTS_SECRET, {"type": "run.finished", "run_id": run_id, "model": model}))
        for run_id in run_ids]
    for n in range(DELIVERIES - DUPLICATES - len(sent)):
        # A version of a model no policy names: stored and processed, ignored.
        body = {"entity": "model_version", "action": "created",
                "timestamp": "2026-12-01T00:00:00Z",
                "data": {"name": f"unmanaged_{n % 7}", "version": str(n + 1),
                         "source": f"models:/m-{n}", "run_id": uuid.uuid4().hex, "tags": {},
                         "description": None}}
        sent.append(("/webhooks/mlflow", *mlflow_delivery(MLFLOW_SECRET, body)))
    return sent


def start_worker(env: dict[str, str], name: str, log_dir: Path) -> subprocess.Popen[bytes]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("REGHOOK_")}
    child_env.update(env, REGHOOK_WORKER_ID=name)
    with open(log_dir / f"{name}.log", "wb") as log:
        return subprocess.Popen([str(REGHOOK), "worker"], env=child_env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])


def delivery_counts(base_url: str) -> Counter[str]:
    """reghook_deliveries_total of one web process (all its gunicorn workers), by result."""
    text = requests.get(f"{base_url}/metrics", timeout=10).text
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "reghook_deliveries_total":
                counts[sample.labels["result"]] += int(sample.value)
    return counts


def test_a_storm_of_duplicates_over_two_web_processes_and_three_workers_loses_and_repeats_nothing(
        mlflow_server, postgres_url, tmp_path):
    experiment = f"/Shared/storm_{uuid.uuid4().hex[:8]}"
    model = f"storm_{uuid.uuid4().hex[:8]}"
    run_ids = [log_churn_run(mlflow_server.url, experiment, good=True, seed=n).run_id
               for n in range(RUNS)]
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_yaml(model, experiment))
    env = {"REGHOOK_DATABASE_URL": postgres_url, "REGHOOK_POLICY": str(policy),
           "REGHOOK_EVENTS_SECRETS": EVENTS_SECRET, "REGHOOK_MLFLOW_SECRETS": MLFLOW_SECRET,
           "MLFLOW_TRACKING_URI": mlflow_server.url, "REGHOOK_LEASE_S": "30",
           "REGHOOK_POLL_INTERVAL_S": "0.2"}
    distinct = distinct_deliveries(model, run_ids)
    rng = random.Random(12)
    resent = [rng.choice(distinct) for _ in range(DUPLICATES)]
    storm = distinct + resent
    rng.shuffle(storm)

    store = Store.from_url(postgres_url)
    with ExitStack() as stack:
        stack.callback(store.dispose)
        webs = [stack.enter_context(running_reghook(env, tmp_path / f"web{n}", workers=2))
                for n in range(2)]
        workers = [start_worker(env, f"storm-{n}", tmp_path) for n in range(3)]
        stack.callback(lambda: [w.kill() for w in workers if w.poll() is None])
        started = time.monotonic()

        def deliver(item: tuple[int, tuple[str, bytes, dict]]) -> int:
            n, (route, raw, headers) = item
            return requests.post(f"{webs[n % 2].url}{route}", data=raw, headers=headers,
                                 timeout=30).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = Counter(pool.map(deliver, enumerate(storm)))

        def settled() -> bool:
            with store.tx.read() as connection:
                return connection.execute(select(func.count()).where(
                    events.c.status.in_(("queued", "processing")))).scalar_one() == 0
        wait_for(settled, timeout_s=150, what="every event finished")
        elapsed = time.monotonic() - started
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        assert [w.wait(timeout=30) for w in workers] == [0, 0, 0]
        counted = sum((delivery_counts(web.url) for web in webs), Counter())

    # Every delivery answered: new ones 202, re-sends 200 (a duplicate), nothing lost.
    assert statuses == {202: len(distinct), 200: DUPLICATES}, statuses
    assert counted["duplicate"] == DUPLICATES
    assert sum(counted.values()) == DELIVERIES, counted
    with store.tx.read() as connection:
        stored = connection.execute(select(events.c.status, events.c.lease_owner)).all()
        held = connection.execute(select(func.count()).select_from(registrations).where(
            registrations.c.status != "registered")).scalar_one()
    assert len(stored) == len(distinct)
    assert Counter(status for status, _ in stored) == {"done": RUNS,
                                                        "ignored": len(distinct) - RUNS}
    assert all(owner is None for _, owner in stored), "a lease is still held"
    assert held == 0
    # Processed once: one finishing attempt per event, whoever took it.
    finishing = Counter(a["outcome"] for event_id in store.event_ids(status="done")
                        for a in store.get_event(event_id)["attempt_log"])
    assert finishing["done"] == RUNS
    client = mlflow.MlflowClient(mlflow_server.url)
    assert [len(versions_of_run(client, model, run_id)) for run_id in run_ids] == [1] * RUNS
    print(f"\nstorm: {DELIVERIES} deliveries, {len(distinct)} distinct, settled in "
          f"{elapsed:.1f} s")

