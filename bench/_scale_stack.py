"""bench/scale.py's reghook as production runs it: web app under gunicorn, N ``reghook worker``
processes, and what the benchmark reads back from them (metrics, store, registry, server log).

Workers are spawned each in their own session (a Ctrl-C reaches only the
benchmark, which stops them) with their probes port on loopback: ``/readyz``
says when one can claim, ``/metrics`` what it processed and retried.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from _cpu import descendants
from _govern_stack import BenchFailed, Run, log_runs
from sqlalchemy import func, select

from handler.demo.server import free_port
from handler.demo.stack import EVENTS_SECRET
from handler.emit import post_run_finished
from handler.store import Store
from handler.store.tables import attempts, events

ROOT = Path(__file__).resolve().parent.parent
FINAL = ("done", "ignored", "failed")


class Workers:
    """``count`` ``reghook worker`` processes over one store; a context manager that stops them."""

    def __init__(self, count: int, env: dict[str, str], work: Path, tag: str) -> None:
        self.ports = [free_port() for _ in range(count)]
        self.processes: list[subprocess.Popen[bytes]] = []
        for i, port in enumerate(self.ports):
            with (work / f"worker-{tag}-{i}.log").open("ab") as log:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "handler.cli", "worker"], cwd=ROOT,
                    env={**env, "REGHOOK_WORKER_PORT": str(port), "REGHOOK_WORKER_HOST": "127.0.0.1",
                         "REGHOOK_WORKER_ID": f"scale-{tag}-{i}"},
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True))
        self.logs = [work / f"worker-{tag}-{i}.log" for i in range(count)]

    def __enter__(self) -> Workers:
        return self

    def wait_ready(self, timeout_s: float = 90.0) -> float:
        """Wait until every worker's ``/readyz`` answers 200 (mlflow imported, store reached)."""
        started = time.perf_counter()
        deadline = started + timeout_s
        for process, port, log in zip(self.processes, self.ports, self.logs, strict=True):
            while True:
                if process.poll() is not None:
                    raise BenchFailed(f"reghook worker exited {process.returncode}:\n{_tail(log)}")
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                        break
                if time.perf_counter() > deadline:
                    raise BenchFailed(f"reghook worker not ready after {timeout_s} s:\n{_tail(log)}")
                time.sleep(0.1)
        return round(time.perf_counter() - started, 1)

    def pids(self) -> list[int]:
        """Every worker process (and anything it spawned)."""
        return [pid for p in self.processes if p.poll() is None for pid in descendants(p.pid)]

    def metrics(self) -> dict[str, Any]:
        """Events processed per outcome and time spent per attempt, summed over the workers."""
        from prometheus_client.parser import text_string_to_metric_families

        outcomes: Counter[str] = Counter()
        seconds: defaultdict[str, float] = defaultdict(float)
        for port in self.ports:
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    kind = "run" if sample.labels.get("type") == "run.finished" else "echo"
                    if sample.name == "reghook_events_processed_total":
                        outcomes[f"{kind} {sample.labels['outcome']}"] += int(sample.value)
                    elif sample.name in ("reghook_event_processing_seconds_sum",
                                         "reghook_event_processing_seconds_count"):
                        seconds[f"{kind} {sample.name.rsplit('_', 1)[1]}"] += sample.value
        return {"outcomes": dict(sorted(outcomes.items())),
                "busy_s": round(seconds["run sum"] + seconds["echo sum"], 2),
                "run_attempt_ms": round(seconds["run sum"] / max(seconds["run count"], 1) * 1000, 1),
                "echo_attempt_ms": round(seconds["echo sum"] / max(seconds["echo count"], 1) * 1000, 1)}

    def __exit__(self, *_exc: object) -> None:
        """SIGTERM each worker (it gives its event back), SIGKILL whatever lingers."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def enqueue(url: str, jobs: list[tuple[str, str]], senders: int = 4) -> tuple[float, list[str]]:
    """POST a signed ``run.finished`` per (model, run id) to ``/events``, ``senders`` at a time;
    the wall-clock time before the first and the event ids, in order."""
    def one(job: tuple[str, str]) -> str:
        answer = post_run_finished(url, EVENTS_SECRET, job[1], job[0], timeout_s=10)
        if answer.status_code != 202 or answer.json().get("status") != "queued":
            raise BenchFailed(f"/events answered {answer.status_code}: {answer.text[:300]}")
        return str(answer.json()["event_id"])

    first = time.time()
    with ThreadPoolExecutor(max_workers=senders) as pool:
        return first, list(pool.map(one, jobs))


def wait_final(store: Store, ids: list[str], timeout_s: float) -> dict[str, Any]:
    """Wait until every event in ``ids`` has a final status; statuses, and when the last one
    was committed (wall clock, from the store)."""
    deadline = time.monotonic() + timeout_s
    query = (select(events.c.status, func.count(), func.max(events.c.updated_at))
             .where(events.c.id.in_(ids)).group_by(events.c.status))
    while True:
        with store.engine.connect() as connection:
            rows = connection.execute(query).all()
        statuses = {str(status): int(count) for status, count, _ in rows}
        if sum(n for s, n in statuses.items() if s in FINAL) == len(ids):
            last = max(_utc(at) for _, _, at in rows)
            return {"statuses": statuses, "last_final": last.timestamp()}
        if time.monotonic() > deadline:
            raise BenchFailed(f"events not final after {timeout_s} s: {statuses}")
        time.sleep(0.25)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def attempts_since(store: Store, since: float) -> dict[str, Any]:
    """Attempts started since ``since`` (wall clock): per outcome, and the retries' errors."""
    start = datetime.fromtimestamp(since, UTC)
    with store.engine.connect() as connection:
        rows = connection.execute(select(attempts.c.outcome, attempts.c.error)
                                  .where(attempts.c.started_at >= start)).all()
    errors = Counter(re.sub(r"[0-9a-f]{32}|\d+", "#", str(e))[:90]
                     for o, e in rows if o == "retry")
    return {"by_outcome": dict(Counter(str(o) for o, _ in rows)),
            "retry_errors": dict(errors.most_common(5))}


def echoes_since(store: Store, since: float) -> dict[str, int]:
    """Webhook deliveries from MLflow stored since ``since``, per status."""
    start = datetime.fromtimestamp(since, UTC)
    with store.engine.connect() as connection:
        rows = connection.execute(select(events.c.status, func.count())
                                  .where(events.c.source == "mlflow", events.c.received_at >= start)
                                  .group_by(events.c.status)).all()
    return {str(s): int(n) for s, n in rows}


def log_runs_in_processes(tracking_uri: str, experiment: str, count: int,
                          processes: int = 3) -> list[Run]:
    """``count`` runs of the demo's churn model (bench/_govern_stack.py), logged by a few
    processes at once: each event of a batch needs a run of its own, as in production."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    runs = log_runs(tracking_uri, experiment, 1)  # the experiment exists before they race
    shares = [len(range(k, count - 1, processes)) for k in range(processes)]
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        for logged in pool.map(log_runs, *zip(*[(tracking_uri, experiment, n)
                                                for n in shares if n], strict=True)):
            runs += logged
    return runs


def check_registry(client: Any, models: list[str], per_model: dict[str, int],
                   tag: tuple[str, str] | None) -> list[str]:
    """Each model has its expected number of new versions (v1, the champion, aside), each
    carrying ``tag`` if given, and ``staging`` on one of them (the last written
    wins); what is wrong, if anything."""
    problems = []
    for model in models:
        found = [v for v in client.search_model_versions(f"name='{model}'", max_results=10_000)
                 if v.version != "1"]
        tagged = [v for v in found if tag is None or (v.tags or {}).get(tag[0]) == tag[1]]
        if len(tagged) != per_model[model]:
            problems.append(f"{model}: {len(tagged)} of {per_model[model]} versions registered"
                            + (f" with {tag[0]}={tag[1]}" if tag else ""))
        if (client.get_registered_model(model).aliases or {}).get("staging") in (None, "1"):
            problems.append(f"{model}: staging on no new version")
    return problems


def last_final_since(store: Store, since: float) -> float:
    """When the last event received since ``since`` (echoes included) was finished, wall clock."""
    start = datetime.fromtimestamp(since, UTC)
    with store.engine.connect() as connection:
        last = connection.execute(select(func.max(events.c.updated_at))
                                  .where(events.c.received_at >= start)).scalar_one()
    return _utc(last).timestamp()


class ServerLog:
    """The MLflow server's access log (uvicorn's lines), read from an offset: REST calls made
    by everyone since, per endpoint."""

    LINE = re.compile(r'"(GET|POST|PATCH|DELETE|PUT) ([^ ?"]+)[^"]*" (\d{3})')

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        """Count from here on."""
        self.offset = self.path.stat().st_size

    def calls(self) -> dict[str, int]:
        """Requests since :meth:`mark`, per ``METHOD /path`` (and ``5xx`` answers)."""
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode(errors="replace")
        found: Counter[str] = Counter()
        for method, path, status in self.LINE.findall(text):
            found[f"{method} {re.sub(r'm-[0-9a-f]{32}', '{id}', path)}"] += 1
            found["5xx"] += status.startswith("5")
        return dict(found.most_common())
