"""Scale benchmark: governed versions per second with 1, 2 and 4 reghook worker processes.

    python bench/scale.py                 # or: make bench-scale   (about 6 minutes)
    python bench/scale.py --quick         # smoke run: 24 versions per phase
    python bench/scale.py --no-postgres   # the store on SQLite

One fresh ``mlflow server``, reghook's web app under gunicorn and N separate
``reghook worker`` processes on one store (a fresh PostgreSQL database, or
SQLite). Per N, a batch of signed ``run.finished`` events, each registering,
validating, tagging and aliasing a version; the baseline is the same registry
writes made directly by N MlflowClient processes. See bench/README.md.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

# `handler` importable from a checkout, whatever the current directory.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _report as report
from _cpu import descendants, wait_for_quiet
from _govern_stack import STAGING, BenchFailed, policy, register
from _scale_calls import call_costs
from _scale_cpu import CpuSplit, PgActivity
from _scale_direct import DirectClients
from _scale_figures import summarize, table
from _scale_stack import (
    ServerLog,
    Workers,
    attempts_since,
    check_registry,
    echoes_since,
    enqueue,
    last_final_since,
    log_runs_in_processes,
    wait_final,
)
from _servers import (
    PG_ADMIN_URL,
    Gunicorn,
    postgres_backends,
    postgres_database,
    postgres_unreachable,
    sqlite_url,
)

from handler.demo.server import MlflowServer
from handler.demo.stack import EVENTS_SECRET, MLFLOW_WEBHOOK_SECRET, WEBHOOK_EVENTS, settle
from handler.store import Store

WEBHOOK_CACHE_S = 1.3  # the server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL=1 s
EXPERIMENT = "bench-scale"
CPUS = len(os.sched_getaffinity(0))


class Scale:
    """The running stack and the phases measured on it."""

    def __init__(self, stack: ExitStack, work: Path, plan: dict[str, Any]) -> None:
        from mlflow import MlflowClient

        self.plan, self.work = plan, work
        self.server = MlflowServer(work / "mlflow")
        stack.callback(self.server.stop)  # registered first: stopped last, whatever happens
        self.server.start()
        self.client = MlflowClient(tracking_uri=self.server.url)
        self.log = ServerLog(work / "mlflow" / "server.log")
        self.database_url = self._store(stack)
        self.store = Store.from_url(self.database_url)
        stack.callback(self.store.dispose)
        self.jobs = self._registry()
        env = {"REGHOOK_DATABASE_URL": self.database_url, "REGHOOK_POLICY": str(work / "policy.yaml"),
               "REGHOOK_MLFLOW_SECRETS": MLFLOW_WEBHOOK_SECRET, "REGHOOK_EVENTS_SECRETS": EVENTS_SECRET,
               "REGHOOK_LOG_LEVEL": "WARNING"}
        # One web process (8 threads) takes the batch and the echoes: the cores go to the workers.
        self.web = stack.enter_context(Gunicorn("deploy.wsgi:app", {**env, "WEB_CONCURRENCY": "1"},
                                                work, "reghook-web"))
        self.web.wait_healthy()
        self.web_url = f"http://127.0.0.1:{self.web.address[1]}"
        # As bench/govern.py: short backoff, and a 0.2 s poll (SQLite has no NOTIFY).
        self.worker_env = {**os.environ, **env, "MLFLOW_TRACKING_URI": self.server.url,
                           "REGHOOK_BACKOFF_BASE_S": "0.2", "REGHOOK_BACKOFF_MAX_S": "2",
                           "REGHOOK_POLL_INTERVAL_S": "0.2"}
        hook = self.client.create_webhook(name="reghook-scale", url=f"{self.web_url}/webhooks/mlflow",
                                          events=WEBHOOK_EVENTS, secret=MLFLOW_WEBHOOK_SECRET)
        self.webhook_id = hook.webhook_id
        stack.callback(self.client.delete_webhook, self.webhook_id)
        self.subscribed = True

    def _store(self, stack: ExitStack) -> str:
        """A fresh PostgreSQL database (dropped on the way out), or SQLite."""
        why = "--no-postgres" if self.plan["no_postgres"] else postgres_unreachable()
        if why is None:
            self.plan["store"] = "postgresql"
            return stack.enter_context(postgres_database())
        report.log(f"store on SQLite ({why})")
        self.plan["store"] = "sqlite"
        return sqlite_url(self.work, "reghook")

    def models(self, side: str, n: int) -> list[str]:
        """The fresh models of one phase: every phase starts from the same version count."""
        return [f"scale.{side}{n}_{k}" for k in range(self.plan["models"])]

    def _registry(self) -> list[tuple[int, str, str]]:
        """Runs logged, each phase's models created with v1 as champion (before reghook
        subscribes: none of it reaches reghook); the jobs of a batch (model index, run, model id)."""
        batch, count = self.plan["batch"], self.plan["models"]
        started = time.perf_counter()
        # A run per event, as in production (a worker's caches keyed by run never hit);
        # the phases share them, each on models of its own.
        runs = log_runs_in_processes(self.server.url, EXPERIMENT, 1 + batch)
        report.log(f"logged {len(runs)} runs in {time.perf_counter() - started:.1f} s")
        for side in ("reghook", "direct"):
            for n in self.plan["workers"]:
                for model in self.models(side, n):
                    self.client.create_registered_model(model)
                    self.client.set_registered_model_alias(model, "champion",
                                                           register(self.client, model, runs[0]))
        (self.work / "policy.yaml").write_text(policy(
            [m for n in self.plan["workers"] for m in self.models("reghook", n)], EXPERIMENT))
        return [(i % count, runs[1 + i].run_id, runs[1 + i].model_id) for i in range(batch)]

    def webhook(self, enabled: bool) -> None:
        """reghook's subscription on or off (the baseline carries no webhook traffic)."""
        if enabled != self.subscribed:
            self.client.update_webhook(self.webhook_id, status="ACTIVE" if enabled else "DISABLED")
            self.subscribed = enabled
            time.sleep(WEBHOOK_CACHE_S)

    def groups(self, extra: dict[str, Any]) -> dict[str, Any]:
        """The processes whose CPU is counted apart."""
        assert self.server.process is not None
        pid = self.server.process.pid
        found = {"mlflow": lambda: descendants(pid), "web": self.web.pids,
                 "client": lambda: [os.getpid()], **extra}
        if self.plan["store"] == "postgresql":
            found["postgres"] = lambda: postgres_backends(self.database_url)
        return found

    def pg_activity(self) -> Any:
        """Sampling of the store's backends (PostgreSQL), or nothing."""
        if self.plan["store"] != "postgresql":
            return contextlib.nullcontext(None)
        return PgActivity(PG_ADMIN_URL, self.database_url.rsplit("/", 1)[1]).sampling()

    def per_model(self, models: list[str]) -> dict[str, int]:
        """Versions each model receives in a batch."""
        return {m: sum(1 for k, _, _ in self.jobs if models[k] == m) for m in models}

    def direct(self, n: int) -> dict[str, Any]:
        """The batch written by ``n`` MlflowClient processes; versions per second."""
        self.webhook(False)
        models = self.models("direct", n)
        clients = DirectClients(self.server.url, [(models[k], r, m) for k, r, m in self.jobs], n)
        cpu = CpuSplit(self.groups({"client": lambda: [os.getpid(), *clients.pids()]}))
        self.log.mark()
        try:
            with cpu.measure():
                started, last = clients.run()
        finally:
            clients.close()
        calls = self.log.calls()
        problems = check_registry(self.client, models, self.per_model(models),
                                  ("reghook.status", "passed"))
        return {"side": "direct", "workers": n, "seconds": round(last - started, 3), "cpus": CPUS,
                "versions": len(self.jobs), "cpu": cpu.cores, "runq": cpu.waiting, "calls": calls,
                "problems": problems}

    def reghook(self, n: int) -> dict[str, Any]:
        """The batch through ``/events`` and ``n`` worker processes, first POST to last ``done``."""
        self.webhook(True)
        models = self.models("reghook", n)
        with Workers(n, self.worker_env, self.work, f"n{n}") as workers:
            ready_s = workers.wait_ready()
            cpu = CpuSplit(self.groups({"workers": workers.pids}))
            self.log.mark()
            with cpu.measure(), self.pg_activity() as pg:
                first, ids = enqueue(self.web_url, [(models[k], r) for k, r, _ in self.jobs])
                enqueued = time.time() - first
                final = wait_final(self.store, ids, 60 + 2.0 * len(ids))
            calls = self.log.calls()
            metrics = workers.metrics()
            settle(self.store, 1.0, 60, BenchFailed)  # the echoes handled before the next phase
            drained = last_final_since(self.store, first) - first
        problems = [f"{n} workers: {count} run.finished events ended {status}"
                    for status, count in final["statuses"].items() if status != "done"]
        problems += check_registry(self.client, models, self.per_model(models), None)
        return {"side": "reghook", "workers": n, "seconds": round(final["last_final"] - first, 3),
                "cpus": CPUS, "versions": len(ids), "enqueue_s": round(enqueued, 3),
                "ready_s": ready_s, "drained_s": round(drained, 3), "cpu": cpu.cores,
                "runq": cpu.waiting, "calls": calls, "worker_metrics": metrics,
                "attempts": attempts_since(self.store, first), "echoes": echoes_since(self.store, first),
                "pg": pg.summary() if pg is not None else None, "problems": problems}

    def call_costs(self) -> dict[str, float]:
        """The server's CPU per REST call of a governed version (after the phases)."""
        assert self.server.process is not None
        jobs = self.jobs[: min(len(self.jobs), 40)]
        return call_costs(self.client, self.server.process.pid,
                          self.models("direct", self.plan["workers"][-1])[0],
                          [r for _, r, _ in jobs], [m for _, _, m in jobs], self.webhook, len(jobs))


def run(plan: dict[str, Any]) -> dict[str, Any]:
    """Start everything, measure each N on both sides; everything stopped on the way out."""
    results: dict[str, Any] = {"phases": []}
    with ExitStack() as stack:
        work = Path(stack.enter_context(TemporaryDirectory(prefix="reghook-scale-")))
        scale = Scale(stack, work, plan)
        report.log(f"mlflow server on {scale.server.url}, reghook web on {scale.web_url}, "
                   f"store {plan['store']}")
        busy = wait_for_quiet(plan["settle_s"], report.BUSY_MACHINE_CORES)
        report.log(f"other load before the timed phases: {busy} cores busy")
        for i, n in enumerate(plan["workers"]):
            # Sides in turns (ABBA): a change in other load falls on both.
            for side in ("direct", "reghook")[:: 1 if i % 2 == 0 else -1]:
                phase = scale.direct(n) if side == "direct" else scale.reghook(n)
                results["phases"].append(phase)
                report.log(f"  {side} x{n}: {phase['versions'] / phase['seconds']:.1f} versions/s "
                           f"({phase['versions']} in {phase['seconds']:.1f} s), cores {phase['cpu']}")
        results["call_costs"] = scale.call_costs()
    return results


def main() -> int:
    """Set up, measure, print the tables and RATIO lines, write the JSON; 1 on problems."""
    parser = report.parser(__doc__, "scale")
    parser.add_argument("--batch", type=int, help="versions per phase (default 100; --quick 24)")
    parser.add_argument("--models", type=int, default=4, help="models per phase (default 4)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts (default 1,2,4)")
    parser.add_argument("--no-postgres", action="store_true", help="the store on SQLite")
    args = parser.parse_args()
    plan = {"batch": max(1, args.batch or (24 if args.quick else 100)),
            "models": max(1, args.models), "workers": [int(n) for n in args.workers.split(",")],
            "no_postgres": args.no_postgres, "settle_s": 0.0 if args.quick else args.settle,
            "quick": args.quick, "staging_alias": STAGING}
    # No telemetry from the clients or the server (which inherits this environment).
    os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
                      MLFLOW_LOGGING_LEVEL="WARNING")
    results = report.begin(plan, {})
    started = time.perf_counter()
    try:
        results.update(run(plan))
    except BenchFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: reghook and the mlflow server are stopped", file=sys.stderr)
        return 130
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results.update(summarize(results["phases"]))
    results["problems"] = [p for phase in results["phases"] for p in phase["problems"]]
    results["verdicts"] = []  # no target: the figures say where scaling stops
    return report.finish(results, table, args.json, args.strict)


if __name__ == "__main__":
    sys.exit(main())
