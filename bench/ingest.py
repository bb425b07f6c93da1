"""Ingest benchmark: reghook's web intake against a bare Flask endpoint, measured in the same run.

    python bench/ingest.py            # or: make bench-ingest   (about 2 minutes)
    python bench/ingest.py --quick    # smoke run, about 20 s

Per backend, bare Flask and deploy.wsgi:app under gunicorn side by side, sent the
same signed MLflow deliveries in turns. bench/README.md says how to read the figures.
"""

from __future__ import annotations

import json
import os
import runpy
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from unittest import mock

# `handler` and `deploy` importable from a checkout, whatever the current directory.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _report as report
import _servers as servers
from _cpu import CpuMeter, rss_kb, wait_for_quiet
from _load import Run, closed_loop, open_loop, summarize

from handler.signatures import sign_mlflow

# Throughput ≥ 60 % of bare Flask, p99 < 10 ms at 300 deliveries/s, one web worker < 80 MB.
TARGETS = {"throughput_ratio_min": 0.60, "open_loop_p99_ms_max": 10.0, "worker_rss_mb_max": 80.0}
SECRET = "bench-secret"
BASE_ENV = {"REGHOOK_MLFLOW_SECRETS": SECRET}


def deliveries(count: int, address: tuple[str, int], first_version: int) -> list[bytes]:
    """Signed ``model_version.created`` requests as MLflow 3 sends them, ready to write."""
    timestamp, sent_at, built = int(time.time()), datetime.now(UTC).isoformat(), []
    for version in range(first_version, first_version + count):
        delivery_id = str(uuid.uuid4())
        body = json.dumps({"entity": "model_version", "action": "created", "timestamp": sent_at,
                           "data": {"name": "workspace.default.quickbite_churn_predictor",
                                    "version": str(version), "run_id": uuid.uuid4().hex,
                                    "source": f"models:/m-{uuid.uuid4().hex}", "tags": {},
                                    "description": None}}).encode()
        built.append((
            f"POST /webhooks/mlflow HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
            "User-Agent: python-requests/2.34.2\r\nAccept-Encoding: gzip, deflate\r\n"
            "Accept: */*\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-MLflow-Delivery-Id: {delivery_id}\r\n"
            f"X-MLflow-Timestamp: {timestamp}\r\n"
            f"X-MLflow-Signature: {sign_mlflow(SECRET, delivery_id, timestamp, body)}\r\n\r\n"
        ).encode() + body)
    return built


@dataclass
class Target:
    """One gunicorn under test, what it was sent and answered, and the CPU it used."""

    name: str
    server: servers.Gunicorn
    expected: str  # the status of an accepted delivery
    backend_pids: Callable[[], list[int]] = list  # PostgreSQL's processes serving it
    next_version: int = 1
    runs: dict[str, list[Run]] = field(default_factory=dict)
    cpu: dict[str, CpuMeter] = field(default_factory=dict)
    worker_rss_kb: list[int] = field(default_factory=list)

    def batch(self, count: int) -> list[bytes]:
        """Fresh deliveries for this target (versions keep counting up)."""
        self.next_version += count
        return deliveries(count, self.server.address, self.next_version - count)

    def record(self, phase: str, measure: Callable[[], Run]) -> None:
        """One slice of a phase, with the server's CPU (gunicorn and its database backends)."""
        meter = self.cpu.setdefault(phase, CpuMeter(lambda: self.server.pids() + self.backend_pids()))
        with meter.measure():
            self.runs.setdefault(phase, []).append(measure())

    def result(self) -> dict[str, Any]:
        """Everything measured, as written to the JSON."""
        out: dict[str, Any] = {"expected_status": self.expected}
        statuses: Counter[str] = Counter()
        for phase, runs in self.runs.items():
            # CPU per request hardly depends on other load, unlike throughput.
            summary, cpu = summarize(runs), self.cpu[phase].summary()
            cpu["server_cpu_ms_per_request"] = round(
                cpu["server_cpu_s"] * 1000 / max(summary["requests"], 1), 3)
            out[phase] = {**summary, "cpu": cpu}
            statuses.update(summary["statuses"])
        ok = sum(n for s, n in statuses.items() if s.startswith("2"))
        return {**out, "statuses": dict(statuses), "accepted": ok,
                "errors": statuses.total() - ok, "unexpected": ok - statuses[self.expected],
                "worker_rss_mb_max": round(max(self.worker_rss_kb, default=0) / 1024, 1)}


def measure_pair(targets: list[Target], plan: dict[str, Any]) -> None:
    """Warm up, saturate, read RSS, hold the fixed rate: each phase in slices taken in turns
    (ABBA), so any change in the machine's other load falls on both targets alike."""
    for t in targets:
        t.server.wait_healthy()

    def in_turns(phase: str, slices: int, seconds: float, requests: float, load: Any) -> None:
        for i in range(slices):
            for t in targets if i % 2 == 0 else targets[::-1]:
                batch = t.batch(int(requests / slices))  # built before the clock starts
                t.record(phase, lambda t=t, b=batch: load(t.server.address, b, seconds / slices))

    in_turns("warmup", 1, plan["warmup_s"], plan["warmup_requests"],
             lambda a, b, s: closed_loop(a, b, clients=4, duration_s=s))
    in_turns("saturation", plan["slices"], plan["saturation_s"], plan["saturation_s"] * plan["max_rps"],
             lambda a, b, s: closed_loop(a, b, clients=plan["clients"], duration_s=s))
    for t in targets:
        t.worker_rss_kb = [kb for pid in t.server.pids()[1:] if (kb := rss_kb(pid))]
    in_turns("open_loop", plan["slices"], plan["open_s"], plan["open_s"] * plan["rate"],
             lambda a, b, s: open_loop(a, b, rate=plan["rate"], duration_s=s))


def run_backend(backend: str, url: str, work: Path, plan: dict[str, Any]) -> dict[str, Any]:
    """Bare Flask and reghook over ``url``, side by side, measured in turns."""
    busy = wait_for_quiet(plan["settle_s"], report.BUSY_MACHINE_CORES)
    report.log(f"[{backend}] other load before starting: {busy} cores busy")
    with ExitStack() as stack:
        # The same environment for both, so deploy/gunicorn.conf.py settles on the same settings.
        env = {**BASE_ENV, "REGHOOK_DATABASE_URL": url}
        bare = stack.enter_context(servers.Gunicorn("bare_app:app", env, work, f"bare-{backend}"))
        app = stack.enter_context(servers.Gunicorn("deploy.wsgi:app", env, work, f"reghook-{backend}"))
        targets = [Target("bare", bare, "204"), Target("reghook", app, "202")]
        if backend == "postgres":
            targets[1].backend_pids = lambda: servers.postgres_backends(url)
        measure_pair(targets, plan)
        result: dict[str, Any] = {t.name: t.result() for t in targets}
    result["reghook"]["stored_events"] = servers.count_events(url)
    result["throughput_ratio"] = report.ratio(result["reghook"]["saturation"]["ok_rps"],
                                              result["bare"]["saturation"]["ok_rps"])
    report.log(f"[{backend}] throughput ratio reghook/bare: {result['throughput_ratio']}")
    return result


def startup(work: Path, repeats: int) -> float:
    """Seconds from spawning gunicorn with one web worker to its first 200 on /healthz (median);
    tests/integration/test_web_imports.py proves the web process never imports mlflow."""
    env = {**BASE_ENV, "REGHOOK_DATABASE_URL": servers.sqlite_url(work, "startup"),
           "WEB_CONCURRENCY": "1"}
    spawn = []
    for i in range(repeats):
        with servers.Gunicorn("deploy.wsgi:app", env, work, f"startup-{i}") as server:
            spawn.append(server.wait_healthy())
    return round(statistics.median(spawn), 3)


def verdicts(backends: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target, per backend: the figure, and whether it is met."""
    rows = []
    for name, b in backends.items():
        ratio, p99 = b["throughput_ratio"] or 0, b["reghook"]["open_loop"]["p99_ms"] or 1e9
        rss = b["reghook"]["worker_rss_mb_max"]
        rows += [{"target": "ingest throughput >= 60% of bare", "where": name,
                  "figure": f"{ratio:.0%}", "met": ratio >= TARGETS["throughput_ratio_min"]},
                 {"target": "p99 < 10 ms at 300/s", "where": name, "figure": f"{p99} ms",
                  "met": p99 < TARGETS["open_loop_p99_ms_max"]},
                 {"target": "web worker < 80 MB RSS", "where": name, "figure": f"{rss} MB",
                  "met": rss < TARGETS["worker_rss_mb_max"]}]
    return rows


def problems(backends: dict[str, Any]) -> list[str]:
    """What makes the figures untrustworthy: errors, unexpected answers, lost events."""
    found = [f"{name}/{side}: {t['errors']} failed, {t['unexpected']} not {t['expected_status']} "
             f"(statuses {t['statuses']})" for name, b in backends.items()
             for side, t in (("bare", b["bare"]), ("reghook", b["reghook"]))
             if t["errors"] or t["unexpected"]]
    return found + [f"{name}: {b['reghook']['accepted']} deliveries accepted but "
                    f"{b['reghook']['stored_events']} events stored" for name, b in backends.items()
                    if b["reghook"]["stored_events"] != b["reghook"]["accepted"]]


def table(results: dict[str, Any]) -> str:
    """The summary printed at the end of a run."""
    plan, backends, rate = results["plan"], results["backends"], f"{results['plan']['rate']:.0f}/s"
    rows: list[list[Any]] = [["target", "req/s", "p50 ms", "p99 ms", "ratio", "CPU ms",
                              f"{rate} p50", "p99", "max ms", "errors", "RSS MB", "other CPU"]]
    notes = []
    for name, b in backends.items():
        for side, label in (("bare", f"bare Flask ({name})"), ("reghook", f"reghook {name}")):
            t, sat, fixed = b[side], b[side]["saturation"], b[side]["open_loop"]
            rows.append([label, f"{sat['ok_rps'] or 0:.0f}", report.num(sat["p50_ms"], 2),
                         report.num(sat["p99_ms"], 2),
                         "1.00" if side == "bare" else report.num(b["throughput_ratio"], 2),
                         report.num(sat["cpu"]["server_cpu_ms_per_request"], 2),
                         report.num(fixed["p50_ms"], 2), report.num(fixed["p99_ms"], 2),
                         report.num(fixed["max_ms"], 2), t["errors"], t["worker_rss_mb_max"],
                         f"{sat['cpu']['other_cores']:.2f}/{fixed['cpu']['other_cores']:.2f}"])
            notes += [f"{name}/{side} {phase}: other processes used {other} cores"
                      for phase in ("saturation", "open_loop")
                      if (other := t[phase]["cpu"]["other_cores"]) > report.BUSY_MACHINE_CORES]
    return "\n".join([
        f"gunicorn: {plan['workers']} x {plan['worker_class']} workers per target on "
        f"{results['machine']['cpus']} CPUs shared with the load generator; saturation: "
        f"{plan['clients']} clients, {plan['saturation_s']} s per target; {rate} for {plan['open_s']} s",
        *report.columns(rows),
        f"start-up: gunicorn -w 1 spawned -> first 200 on /healthz {results['startup_s']} s",
        "CPU ms: server CPU (gunicorn workers, plus PostgreSQL's backends for reghook) per request "
        "at saturation; other CPU: cores used by processes outside the benchmark (sat/fixed)",
        *[f"RATIO reghook/bare throughput ({name}): {b['throughput_ratio']}"
          for name, b in backends.items()],
        *([f"postgres skipped: {results['postgres_skipped']}"] if "postgres_skipped" in results else []),
        "", *report.verdict_lines(results["verdicts"], notes)])


def make_plan(args: Any) -> dict[str, Any]:
    """Phase lengths and load shapes: the full run, or about a second each with --quick."""
    quick = args.quick
    with mock.patch.dict(os.environ, {"PROMETHEUS_MULTIPROC_DIR": "/nonexistent"}):  # no mkdtemp
        conf = runpy.run_path(str(servers.ROOT / "deploy" / "gunicorn.conf.py"))
    # Saturation is bounded by a request count (max_rps) as well as by time.
    return {"workers": conf["workers"], "worker_class": conf["worker_class"], "clients": 8,
            "slices": 1 if quick else 4, "saturation_s": 1.0 if quick else 8.0, "max_rps": 8000,
            "warmup_s": 0.3 if quick else 2.0, "warmup_requests": 500 if quick else 4000,
            "rate": 300.0, "open_s": 1.0 if quick else 10.0, "startup_repeats": 1 if quick else 3,
            "settle_s": 0.0 if quick else args.settle, "quick": quick}


def main() -> int:
    """Run every backend, print the table, write the JSON; 1 on errors (or missed, --strict)."""
    parser = report.parser(__doc__, "ingest")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL target")
    args = parser.parse_args()
    results = report.begin(make_plan(args), TARGETS)
    started, backends = time.perf_counter(), {}
    with TemporaryDirectory(prefix="reghook-bench-") as folder:
        work = Path(folder)
        try:
            backends["sqlite"] = run_backend("sqlite", servers.sqlite_url(work, "reghook"), work,
                                             results["plan"])
            if reason := "--no-postgres given" if args.no_postgres else servers.postgres_unreachable():
                report.log(f"[postgres] skipped: {reason}")
                results["postgres_skipped"] = reason
            else:
                with servers.postgres_database() as url:
                    backends["postgres"] = run_backend("postgres", url, work, results["plan"])
            results["startup_s"] = startup(work, results["plan"]["startup_repeats"])
        except servers.ServerFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    results.update(backends=backends, verdicts=verdicts(backends), problems=problems(backends),
                   elapsed_s=round(time.perf_counter() - started, 1))
    return report.finish(results, table, args.json, args.strict)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # The finally blocks have run by now: servers stopped, temporary databases dropped.
        print("interrupted: servers stopped, temporary databases dropped", file=sys.stderr)
        sys.exit(130)
