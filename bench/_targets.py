"""What one benchmark target is, what it is sent, and how its phases are taken.

A target is one gunicorn (bare Flask or reghook) with the signed MLflow
deliveries built for it, the runs measured against it and the CPU and memory
seen meanwhile. :func:`measure_pair` takes a bare and a reghook target
through the same phases in turns.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from _cpu import CpuMeter
from _load import Run, closed_loop, open_loop, summarize
from _servers import Gunicorn, rss_kb

from handler.signatures import sign_mlflow

SECRET = "bench-secret"
MODEL = "workspace.default.quickbite_churn_predictor"
BASE_ENV = {"REGHOOK_MLFLOW_SECRETS": SECRET}


def deliveries(count: int, host: str, port: int, first_version: int = 1) -> list[bytes]:
    """Signed ``model_version.created`` requests as MLflow 3 sends them, ready to write."""
    timestamp = int(time.time())
    sent_at = datetime.now(UTC).isoformat()
    built = []
    for i in range(count):
        delivery_id = str(uuid.uuid4())
        body = json.dumps({
            "entity": "model_version", "action": "created", "timestamp": sent_at,
            "data": {"name": MODEL, "version": str(first_version + i),
                     "source": f"models:/m-{uuid.uuid4().hex}", "run_id": uuid.uuid4().hex,
                     "tags": {}, "description": None},
        }).encode()
        signature = sign_mlflow(SECRET, delivery_id, timestamp, body)
        head = (
            f"POST /webhooks/mlflow HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "User-Agent: python-requests/2.34.2\r\nAccept-Encoding: gzip, deflate\r\n"
            "Accept: */*\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-MLflow-Delivery-Id: {delivery_id}\r\n"
            f"X-MLflow-Timestamp: {timestamp}\r\nX-MLflow-Signature: {signature}\r\n\r\n"
        )
        built.append(head.encode() + body)
    return built


@dataclass
class Target:
    """One gunicorn under test, the requests it was sent and what it answered."""

    name: str
    server: Gunicorn
    expected_status: str
    # The database server's processes serving this target (PostgreSQL), looked up each time.
    backend_pids: Callable[[], list[int]] = list
    next_version: int = 1
    runs: dict[str, list[Run]] = field(default_factory=dict)
    cpu: dict[str, CpuMeter] = field(default_factory=dict)
    rss_after_warmup: dict[str, int | None] = field(default_factory=dict)
    master_rss_kb: int | None = None

    def batch(self, count: int) -> list[bytes]:
        """Fresh signed deliveries for this target's port (versions keep counting up)."""
        built = deliveries(count, self.server.host, self.server.port, self.next_version)
        self.next_version += count
        return built

    def pids(self) -> list[int]:
        """gunicorn master, its workers, and any database backends serving it."""
        assert self.server.process is not None
        return [self.server.process.pid, *self.server.workers(), *self.backend_pids()]

    def record(self, phase: str, measure: Any) -> None:
        """Run one slice of a phase, counting the CPU the machine spent meanwhile."""
        meter = self.cpu.setdefault(phase, CpuMeter())
        pids = self.pids()
        before = meter.snapshot(pids)
        run = measure()
        meter.add(before, meter.snapshot(pids))
        self.runs.setdefault(phase, []).append(run)

    def phase(self, phase: str) -> dict[str, Any]:
        """The summary of a phase over all its slices, with the CPU seen.

        CPU per request (server: gunicorn and its database backends; client:
        this process) hardly depends on other load, unlike throughput: on a
        busy machine it is the steadier way to compare two targets.
        """
        summary = summarize(self.runs[phase])
        cpu = self.cpu[phase].summary()
        if summary["requests"]:
            cpu["server_cpu_ms_per_request"] = round(
                cpu["server_cpu_s"] * 1000 / summary["requests"], 3)
            cpu["client_cpu_ms_per_request"] = round(
                cpu["client_cpu_s"] * 1000 / summary["requests"], 3)
        return {**summary, "cpu": cpu}

    def worker_rss_kb(self) -> dict[str, int | None]:
        """VmRSS of each web worker now."""
        return {str(pid): rss_kb(pid) for pid in self.server.workers()}


def measure_pair(targets: list[Target], plan: dict[str, Any], log: Any) -> None:
    """Warm up, saturate, read RSS, hold the fixed rate: each phase in turns (ABBA).

    Taking the two targets in alternating slices spreads any change in the
    machine's background load over both, so the ratio stays fair.
    """
    for target in targets:
        target.record("warmup", lambda t=target: closed_loop(
            t.server.host, t.server.port, t.batch(plan["warmup_requests"]),
            clients=4, duration_s=plan["warmup_s"]))
    slice_s = plan["saturation_s"] / plan["slices"]
    for i in range(plan["slices"]):
        for target in targets if i % 2 == 0 else targets[::-1]:
            requests = target.batch(int(slice_s * plan["max_rps"]))
            target.record("saturation", lambda t=target, r=requests: closed_loop(
                t.server.host, t.server.port, r, clients=plan["clients"], duration_s=slice_s))
    for target in targets:
        target.rss_after_warmup = target.worker_rss_kb()
        assert target.server.process is not None
        target.master_rss_kb = rss_kb(target.server.process.pid)
    slice_s = plan["open_s"] / plan["slices"]
    for i in range(plan["slices"]):
        for target in targets if i % 2 == 0 else targets[::-1]:
            requests = target.batch(int(plan["rate"] * slice_s))
            target.record("open_loop", lambda t=target, r=requests: open_loop(
                t.server.host, t.server.port, r, rate=plan["rate"], duration_s=slice_s))


def target_result(target: Target) -> dict[str, Any]:
    """Everything measured for one target, as written to the JSON."""
    phases = {phase: target.phase(phase) for phase in target.runs}
    statuses: Counter[str] = Counter()
    for summary in phases.values():
        statuses.update(summary["statuses"])
    rss = target.rss_after_warmup
    known = [v for v in rss.values() if v]
    return {
        **phases,
        "expected_status": target.expected_status,
        "statuses": dict(statuses),
        "accepted": statuses[target.expected_status],
        "errors": sum(n for s, n in statuses.items() if not s.startswith("2")),
        "unexpected": sum(n for s, n in statuses.items()
                          if s.startswith("2") and s != target.expected_status),
        "worker_rss_kb": rss,
        "worker_rss_kb_after": target.worker_rss_kb(),
        "worker_rss_mb_max": round(max(known) / 1024, 1) if known else None,
        # master + workers: what a container running this gunicorn holds (for sizing).
        "master_rss_kb": target.master_rss_kb,
        "total_rss_mb": round(((target.master_rss_kb or 0) + sum(known)) / 1024, 1),
    }
