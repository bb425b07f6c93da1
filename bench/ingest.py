"""Ingest benchmark: reghook's web process against a bare Flask app, in the same run.

    .venv/bin/python bench/ingest.py            # full run, about 2 minutes
    .venv/bin/python bench/ingest.py --quick    # smoke run, a few seconds per target

Each target is served by its own gunicorn with deploy/gunicorn.conf.py
(same worker count and class) on a free loopback port:

- ``bare``: bench/bare_app.py, a Flask endpoint that reads the body and answers 204;
- ``sqlite``: deploy.wsgi:app over a fresh, migrated SQLite file;
- ``postgres``: deploy.wsgi:app over a fresh PostgreSQL database, dropped afterwards
  (skipped with a message when the server is unreachable).

All receive the same kind of request: a signed MLflow ``model_version.created``
delivery with a fresh ``X-MLflow-Delivery-Id``. Measured: throughput and
latency at saturation (closed loop), latency at a fixed 300 deliveries/s
(open loop), the RSS of each web worker after warm-up, and the start-up
time of one web worker. Figures are printed next to the targets and written
to bench/results/ingest.json. See bench/README.md for how to read them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# `handler` importable from a checkout even without the editable install.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _cpu import background_load, wait_for_quiet
from _report import BUSY_MACHINE_CORES, TARGETS, problems, table, verdicts, warnings
from _servers import (
    BENCH,
    ROOT,
    Gunicorn,
    ServerFailed,
    count_events,
    import_probe,
    postgres_backends,
    postgres_checkpoints,
    postgres_database,
    postgres_unreachable,
    sqlite_url,
    workdir,
)
from _targets import BASE_ENV, Target, measure_pair, target_result

RESULTS = BENCH / "results" / "ingest.json"


def run_backend(backend: str, url: str, work: Path, plan: dict[str, Any],
                log: Any) -> dict[str, Any]:
    """Bare Flask and reghook over ``url``, two gunicorns side by side, measured in turns."""
    busy = wait_for_quiet(plan["settle_s"], BUSY_MACHINE_CORES)  # settle_s 0: just measure
    log(f"[{backend}] other load before starting: {busy} cores busy")
    with ExitStack() as stack:
        # The same environment for both, so deploy/gunicorn.conf.py settles on the same settings.
        env = {**BASE_ENV, "REGHOOK_DATABASE_URL": url}
        bare = stack.enter_context(Gunicorn("bare_app:app", env, work,
                                            name=f"bare-{backend}", pythonpath=BENCH))
        app = stack.enter_context(Gunicorn("deploy.wsgi:app", env, work,
                                           name=f"reghook-{backend}"))
        bare.wait_healthy()
        app.wait_healthy()
        targets = [Target("bare", bare, "204"), Target("reghook", app, "202")]
        checkpoints = 0
        if backend == "postgres":
            targets[1].backend_pids = lambda: postgres_backends(url)
            checkpoints = postgres_checkpoints()
        measure_pair(targets, plan, log)
        if backend == "postgres":
            # Other sessions' DROP DATABASE forces checkpoints, which stall commits for a while.
            checkpoints = postgres_checkpoints() - checkpoints
        result: dict[str, Any] = {target.name: target_result(target) for target in targets}
        for target in targets:
            if result[target.name]["errors"] or result[target.name]["unexpected"]:
                result[target.name]["log_tail"] = target.server.log_tail()
    result["background_cores_before"] = busy
    if backend == "postgres":
        result["postgres_checkpoints_during_run"] = checkpoints
    result["reghook"]["stored_events"] = count_events(url)
    bare_rps = result["bare"]["saturation"]["ok_rps"] or 0
    result["throughput_ratio"] = round(
        (result["reghook"]["saturation"]["ok_rps"] or 0) / bare_rps, 3) if bare_rps else None
    for name in ("bare", "reghook"):
        sat, fixed = result[name]["saturation"], result[name]["open_loop"]
        log(f"  {name:<8} saturation {sat['ok_rps']} req/s p50 {sat['p50_ms']} p99 "
            f"{sat['p99_ms']} ms | {plan['rate']:.0f}/s p50 {fixed['p50_ms']} p99 "
            f"{fixed['p99_ms']} ms | statuses {result[name]['statuses']}")
    return result


def startup(work: Path, env: dict[str, str], repeats: int, log: Any) -> dict[str, Any]:
    """Start-up of one web worker, two ways (see the README for which is which)."""
    spawn = []
    for i in range(repeats):
        with Gunicorn("deploy.wsgi:app", {**env, "WEB_CONCURRENCY": "1"}, work,
                      name=f"startup-{i}") as server:
            spawn.append(server.wait_healthy())
    probes = [import_probe(env) for _ in range(repeats)]
    result: dict[str, Any] = {
        "gunicorn_1_worker_to_healthz_s": _median_and_all(spawn),
        "import_deploy_wsgi_s": _median_and_all([float(p["import_s"]) for p in probes]),
        "fresh_interpreter_import_process_s": _median_and_all(
            [float(p["process_s"]) for p in probes]),
        "rss_after_import_mb": round(statistics.median(int(p["rss_kb"]) for p in probes) / 1024, 1),
        "mlflow_imported": any(bool(p["mlflow_imported"]) for p in probes),
        "databricks_sdk_imported": any(bool(p["databricks_sdk_imported"]) for p in probes),
    }
    log(f"  gunicorn -w 1 spawn -> /healthz 200: "
        f"{result['gunicorn_1_worker_to_healthz_s']['median']} s; "
        f"import deploy.wsgi: {result['import_deploy_wsgi_s']['median']} s")
    return result


def _median_and_all(values: list[float]) -> dict[str, Any]:
    return {"median": round(statistics.median(values), 3), "all": [round(v, 3) for v in values]}


def gunicorn_settings() -> dict[str, Any]:
    """workers and worker_class as deploy/gunicorn.conf.py sets them in this environment."""
    import os
    import runpy

    saved = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = "/nonexistent"  # keep the config from mkdtemp'ing
    try:
        conf = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    finally:
        if saved is None:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = saved
    return {"workers": conf["workers"], "worker_class": conf["worker_class"],
            "keepalive": conf.get("keepalive"), "timeout": conf.get("timeout")}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: ~2 s per phase")
    parser.add_argument("--clients", type=int, default=8, help="closed-loop clients")
    parser.add_argument("--duration", type=float,
                        help="saturation seconds per target (default 8)")
    parser.add_argument("--rate", type=float, default=300.0, help="open-loop deliveries/s")
    parser.add_argument("--open-duration", type=float,
                        help="open-loop seconds per target (default 10)")
    parser.add_argument("--settle", type=float, default=20.0,
                        help="wait up to this many seconds for other load to calm down "
                             "before each backend (default 20; 0: don't wait)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL target")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the figures")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a target is missed (errors always exit 1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every backend, print the table, write the JSON; 1 on errors (or missed, --strict)."""
    args = parse_args(argv)
    plan = make_plan(args)

    def log(message: str) -> None:
        print(message, flush=True)

    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C: servers stopped, databases dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "background_cores_at_start": background_load(1.0)},
        "plan": plan,
        "targets": TARGETS,
        "backends": {},
    }
    log(f"gunicorn {plan['workers']} x {plan['worker_class']} workers per target; "
        f"background load {results['machine']['background_cores_at_start']} cores busy")
    with ExitStack() as stack:
        work = Path(stack.enter_context(workdir()))
        try:
            results["backends"]["sqlite"] = run_backend(
                "sqlite", sqlite_url(work, "reghook"), work, plan, log)
            reason = "--no-postgres given" if args.no_postgres else postgres_unreachable()
            if reason:
                log(f"[postgres] skipped: {reason}")
                results["backends"]["postgres"] = {"skipped": reason}
            else:
                with postgres_database() as url:
                    results["backends"]["postgres"] = run_backend("postgres", url, work, plan, log)
            log("[startup] one web worker")
            results["startup"] = startup(
                work, {**BASE_ENV, "REGHOOK_DATABASE_URL": sqlite_url(work, "startup")},
                plan["startup_repeats"], log)
        except ServerFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["verdicts"] = verdicts(results)
    results["problems"] = problems(results)
    results["warnings"] = warnings(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    print(f"\nwritten: {args.json} ({results['elapsed_s']} s)")
    for problem in results["problems"]:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if results["problems"]:
        return 1
    if args.strict and not all(row["met"] for row in results["verdicts"]):
        return 1
    return 0


def make_plan(args: argparse.Namespace) -> dict[str, Any]:
    """Phase lengths and load shapes: the full run, or a few seconds with --quick."""
    quick = args.quick
    return {
        **gunicorn_settings(),
        "clients": args.clients,
        "slices": 1 if quick else 4,  # each phase in turns, bare/reghook/reghook/bare...
        "saturation_s": args.duration or (1.0 if quick else 8.0),
        # Bounded by count as well as time: more than any 2-core box answers.
        "max_rps": 8000,
        "warmup_s": 0.3 if quick else 2.0,
        "warmup_requests": 500 if quick else 4000,
        "rate": args.rate,
        "open_s": args.open_duration or (1.0 if quick else 10.0),
        "startup_repeats": 1 if quick else 3,
        "settle_s": 0.0 if quick else args.settle,
        "quick": quick,
    }


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # The finally blocks have run by now: servers stopped, temporary databases dropped.
        print("interrupted: servers stopped, temporary databases dropped", file=sys.stderr)
        sys.exit(130)
