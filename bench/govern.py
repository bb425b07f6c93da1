"""Governance benchmark: reghook's run.finished flow against the same registration by hand.

    .venv/bin/python bench/govern.py            # or: make bench-govern  (about 2-3 minutes)
    .venv/bin/python bench/govern.py --quick    # smoke run, under a minute
    .venv/bin/python bench/govern.py --help     # --events, --versions, --profile, --strict, ...

One fresh ``mlflow server`` (sqlite) in a temporary folder, stopped at the
end (also on an error, Ctrl-C or SIGTERM). reghook runs in this process as
tests/support/harness.running_reghook starts it: the web app on a threaded
werkzeug server, the worker in a thread woken when an event is stored, and
the server's webhooks pointing at it. Four registered models on one
experiment, each with v1 holding ``champion`` (set by hand):

- ``reghook_small`` / ``hand_small``: just the champion;
- ``reghook_large`` / ``hand_large``: the champion and 1,000 more versions
  (100 with --quick) registered from another run.

reghook's policy has every gate on (metrics, champion comparison against
``@champion``, signature and dataset consistency, required tags), no
promotion block (the alias guard is not involved), and ``on_pass`` sets
``staging`` plus two tags. Every run logged passes, so every governed
version ends tagged and aliased.

Measured, with the baseline in the same run:

(a) latency: from the 202 of a signed ``POST /events`` (run.finished) to the
    event's status ``done`` in reghook's store — signalled by a wrapper
    around the store's ``finish_event``, not polled — then the registry is
    read once to confirm the version has its tags and the ``staging`` alias.
    Baseline: the by-hand MlflowClient sequence (latest run → list every
    version → register → alias → two tags) on the same server, with
    reghook's webhook disabled meanwhile so the baseline carries no webhook
    traffic. Taken in alternating blocks;
(b) MLflow REST calls per governed version and per echo (the webhooks the
    server sends back after reghook's writes), counted by wrapping
    ``requests``' ``HTTPAdapter.send`` and attributed to the event the worker
    thread is processing;
(c) (a) and (b) on the small and the large models: growth with 1,000 versions.

Figures are printed next to the targets and written to
bench/results/govern.json. See bench/README.md for how to read them.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# `handler` and `tests.support` importable from a checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest  # only for MonkeyPatch, which running_reghook expects
import requests
from _cpu import background_load, wait_for_quiet
from _govern_calls import CallCounter, Scope
from _govern_cpu import CpuWindow, descendants
from _govern_report import (
    BUSY_MACHINE_CORES,
    TARGETS,
    summarize,
    summarize_calls,
    table,
    verdicts,
)
from _govern_setup import STAGING, Run, policy, setup_registry
from _govern_watch import BenchFailed, Watched

from handler.signatures import sign_standard
from tests.support.harness import Reghook, running_reghook
from tests.support.mlflow_server import MlflowServer

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "govern.json"
SECRET = "whsec_" + base64.b64encode(b"bench-govern-events-secret-0001").decode()
EXPERIMENT = "bench-govern"
MODELS = {"small": ("bench.reghook_small", "bench.hand_small"),
          "large": ("bench.reghook_large", "bench.hand_large")}
ECHO_TYPES = ("model_version.created", "model_version_alias.created", "model_version_tag.set",
              "model_version_alias.deleted", "registered_model.created")
# The server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL=1 s.
WEBHOOK_CACHE_S = 1.3
EVENT_TIMEOUT_S = 60.0
ECHO_TIMEOUT_S = 15.0


class Bench:
    """The server, reghook, the by-hand client and everything measured."""

    def __init__(self, server: MlflowServer, handle: Reghook, counter: CallCounter,
                 watched: Watched, runs: dict[str, list[Run]], experiment_id: str,
                 plan: dict[str, Any]) -> None:
        from mlflow import MlflowClient

        self.server, self.handle, self.counter, self.watched = server, handle, counter, watched
        self.runs = {size: list(rs) for size, rs in runs.items()}
        self.experiment_id = experiment_id
        self.plan = plan
        self.client = MlflowClient(tracking_uri=server.url)
        self.session = requests.Session()
        self.samples: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.expected_echoes = 0

    # --- reghook ------------------------------------------------------------------

    def post_run_finished(self, model: str, run: Run) -> tuple[str, float, float]:
        """A signed ``/events`` run.finished; (event id, sent at, 202 received at)."""
        body = json.dumps({"type": "run.finished", "run_id": run.run_id,
                           "model": model}).encode()
        msg_id, timestamp = f"msg_{uuid.uuid4().hex}", int(time.time())
        headers = {"Content-Type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(timestamp),
                   "webhook-signature": sign_standard(SECRET, msg_id, timestamp, body)}
        sent = time.perf_counter()
        response = self.session.post(f"{self.handle.url}/events", data=body, headers=headers,
                                     timeout=10)
        accepted = time.perf_counter()
        if response.status_code != 202 or response.json().get("status") != "queued":
            raise BenchFailed(f"/events answered {response.status_code}: {response.text[:300]}")
        return str(response.json()["event_id"]), sent, accepted

    def govern(self, size: str, phase: str) -> dict[str, Any]:
        """One run.finished through reghook, timed; then the registry checked, the echoes drained."""
        model = MODELS[size][0]
        run = self.runs[size].pop(0)
        before = self.watched.mlflow_finished
        event_id, sent, accepted = self.post_run_finished(model, run)
        end = self.watched.wait_finished(event_id, EVENT_TIMEOUT_S)
        if end.status != "done":
            raise BenchFailed(f"run.finished {event_id} ended {end.status}: {end.reason}")
        scope = self.scope_of(event_id)
        self.confirm(model, run, event_id)
        # Every successful registry write comes back as one webhook: wait for them all.
        self.expected_echoes += scope.ok_writes
        if not self.watched.wait_mlflow_events(before + scope.ok_writes, ECHO_TIMEOUT_S):
            self.problems.append(f"{event_id}: {scope.ok_writes} echoes expected, "
                                 f"{self.watched.mlflow_finished - before} processed")
        self.watched.settle(ECHO_TIMEOUT_S)

        def ms(seconds: float) -> float:
            return round(seconds * 1000, 2)

        sample = {"side": "reghook", "size": size, "phase": phase, "event_id": event_id,
                  "accepted_to_done_ms": ms(end.done_at - accepted),
                  "sent_to_done_ms": ms(end.done_at - sent), "intake_ms": ms(accepted - sent),
                  # Stages: stored -> claimed by the woken worker -> use case -> status committed.
                  "sent_to_claimed_ms": ms(end.started_at - sent),
                  "use_case_ms": ms(end.processed_at - end.started_at),
                  "finish_ms": ms(end.done_at - end.processed_at),
                  "calls": scope.total, "call_ms": ms(scope.seconds),
                  "adapter_calls": self.watched.adapter_calls.get(event_id),
                  "reason": end.reason}
        self.samples.append(sample)
        return sample

    def scope_of(self, event_id: str) -> Scope:
        """The call scope the worker opened for an event."""
        found = self.counter.select("reghook", event_id=event_id)
        if len(found) != 1:
            raise BenchFailed(f"{len(found)} call scopes for {event_id}")
        return found[0]

    def confirm(self, model: str, run: Run, event_id: str) -> None:
        """Read the registry once: the run's version holds ``staging`` and reghook's tags."""
        holder = self.client.get_model_version_by_alias(model, STAGING)
        tags = holder.tags or {}
        if (holder.run_id != run.run_id or tags.get("reghook.status") != "passed"
                or tags.get("reghook.event_id") != event_id
                or tags.get("deployment_mode") != "batch_inference_only"):
            raise BenchFailed(f"{model}@{STAGING} is v{holder.version} (run {holder.run_id}, "
                              f"tags {tags}); expected run {run.run_id} passed by {event_id}")

    # --- by hand ------------------------------------------------------------------

    def by_hand(self, size: str, phase: str) -> dict[str, Any]:
        """The direct MlflowClient sequence a governance script would run, timed."""
        model = MODELS[size][1]
        client = self.client
        before = self.watched.mlflow_finished
        with self.counter.scope("by-hand", model=model, size=size, phase=phase) as scope:
            started = time.perf_counter()
            latest = client.search_runs([self.experiment_id],
                                        order_by=["attributes.start_time DESC"], max_results=1)[0]
            versions = client.search_model_versions(f"name='{model}'")
            if not versions:
                client.create_registered_model(model)
            model_id = latest.outputs.model_outputs[0].model_id
            created = client.create_model_version(model, f"models:/{model_id}",
                                                  run_id=latest.info.run_id, model_id=model_id)
            client.set_registered_model_alias(model, STAGING, created.version)
            client.set_model_version_tag(model, created.version, "validation_status", "passed")
            client.set_model_version_tag(model, created.version, "validated_at",
                                         datetime.now(UTC).isoformat(timespec="seconds"))
            elapsed = time.perf_counter() - started
        if self.plan["hand_webhooks"]:
            # reghook receives these writes too (no policy: ignored); drain them before going on.
            self.watched.wait_mlflow_events(before + scope.ok_writes, ECHO_TIMEOUT_S)
            self.watched.settle(ECHO_TIMEOUT_S)
        sample = {"side": "by-hand", "size": size, "phase": phase,
                  "elapsed_ms": round(elapsed * 1000, 2), "calls": scope.total,
                  "call_ms": round(scope.seconds * 1000, 1),
                  "versions_listed": len(versions)}
        self.samples.append(sample)
        return sample

    def webhook(self, enabled: bool) -> None:
        """Turn reghook's subscription on or off, and wait out the server's webhook cache."""
        assert self.handle.webhook_id is not None
        self.client.update_webhook(self.handle.webhook_id,
                                   status="ACTIVE" if enabled else "DISABLED")
        time.sleep(WEBHOOK_CACHE_S)

    # --- the measurement -------------------------------------------------------------

    def warm_up(self, log: Any) -> None:
        """One untimed event per model and side (caches, connections, first imports)."""
        for size in MODELS:
            for _ in range(self.plan["warmup"]):
                self.govern(size, "warmup")
        if not self.plan["hand_webhooks"]:
            self.webhook(False)
        try:
            for size in MODELS:
                for _ in range(self.plan["warmup"]):
                    self.by_hand(size, "warmup")
        finally:
            if not self.plan["hand_webhooks"]:
                self.webhook(True)
        log(f"warm-up done ({self.plan['warmup']} event per model and side)")

    def measure(self, log: Any) -> None:
        """Blocks of events, reghook and by hand in turns (ABBA), small and large alternating.

        The webhook is switched only where the side changes, so the two
        by-hand blocks of B-A / A-B pairs share one switch.
        """
        events, block = self.plan["events"], self.plan["block"]
        blocks, done, turn = [], 0, 0
        while done < events:
            count = min(block, events - done)
            sides = ["reghook", "by-hand"] if turn % 2 == 0 else ["by-hand", "reghook"]
            blocks += [(side, count, turn) for side in sides]
            done, turn = done + count, turn + 1
        subscribed = True
        try:
            for i, (side, count, turn) in enumerate(blocks):
                wanted = side == "reghook" or self.plan["hand_webhooks"]
                if wanted != subscribed:
                    self.webhook(wanted)
                    subscribed = wanted
                self.block(side, count, turn)
                if i % 2 == 1:
                    log(f"  {min(events, (turn + 1) * block)}/{events} events per model and side: "
                        f"{progress(self.samples)}")
        finally:
            if not subscribed:
                self.webhook(True)

    def block(self, side: str, count: int, turn: int) -> None:
        """``count`` events per model on one side, small and large alternating."""
        for i in range(count):
            sizes = list(MODELS) if (i + turn) % 2 == 0 else list(MODELS)[::-1]
            for size in sizes:
                if side == "by-hand":
                    self.by_hand(size, "timed")
                else:
                    self.govern(size, "timed")


def run(args: argparse.Namespace, plan: dict[str, Any], log: Any) -> dict[str, Any]:
    """Start everything, set up, measure; everything stopped on the way out."""
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="reghook-govern-")))
        server = MlflowServer(work / "mlflow")
        stack.callback(server.stop)  # registered first: stopped last, whatever happens
        started = time.perf_counter()
        server.start()
        results["server_start_s"] = round(time.perf_counter() - started, 1)
        log(f"mlflow server on {server.url} ({results['server_start_s']} s to /health)")
        counter = CallCounter(server.url)
        counter.install()
        stack.callback(counter.uninstall)
        setup = setup_registry(server.url, MODELS, EXPERIMENT, plan, log)
        results["setup"] = setup["setup"]

        monkeypatch = stack.enter_context(pytest.MonkeyPatch.context())
        handle = stack.enter_context(running_reghook(
            work, server.url, policy([m for m, _ in MODELS.values()], EXPERIMENT),
            monkeypatch=monkeypatch, events_secrets=SECRET, log_level="WARNING"))
        notifications = stack.enter_context((work / "notifications.jsonl").open("w"))
        if handle.runtime.notifier is not None:
            handle.runtime.notifier.stdout = notifications  # the log channel, off the terminal
        watched = Watched(handle, counter, {m for m, _ in MODELS.values()}, profile=args.profile)
        time.sleep(WEBHOOK_CACHE_S)  # the new subscription reaches the server's cache
        bench = Bench(server, handle, counter, watched, setup["runs"], setup["experiment_id"],
                      plan)
        bench.warm_up(log)
        if plan["settle_s"]:
            busy = wait_for_quiet(plan["settle_s"], BUSY_MACHINE_CORES)
            log(f"other load before the timed phase: {busy} cores busy")
        assert server.process is not None
        window = CpuWindow(descendants(server.process.pid))
        window.start()
        started = time.perf_counter()
        watched.profiling = True
        bench.measure(log)
        watched.profiling = False
        results["cpu"] = window.stop()
        results["measure_s"] = round(time.perf_counter() - started, 1)
        watched.settle(ECHO_TIMEOUT_S)
        results["samples"] = bench.samples
        results["calls"] = summarize_calls(counter, bench.samples, MODELS, ECHO_TYPES)
        results["echo_check"] = {"expected": bench.expected_echoes,
                                 "processed": dict(Counter(watched.kinds.values()))}
        results["problems"] = bench.problems
        if watched.profiler is not None:
            results["profile"] = profile_summary(watched.profiler, args.json.parent)
        results["versions_after"] = {
            model: len(bench.client.search_model_versions(f"name='{model}'"))
            for pair in MODELS.values() for model in pair}
    return results


def profile_summary(profiler: Any, folder: Path, top: int = 40) -> list[str]:
    """Write the worker's profile next to the JSON; the top functions by cumulative time."""
    import io
    import pstats

    folder.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(folder / "govern.prof"))
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    return text.getvalue().splitlines()


def progress(samples: list[dict[str, Any]]) -> str:
    """Medians so far, for the log line after each block."""
    parts = []
    for side, key in (("reghook", "accepted_to_done_ms"), ("by-hand", "elapsed_ms")):
        for size in MODELS:
            values = sorted(s[key] for s in samples
                            if s["phase"] == "timed" and s["side"] == side and s["size"] == size)
            if values:
                parts.append(f"{side} {size} {values[len(values) // 2]:.0f} ms")
    return ", ".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 5 events per model and side, 100 filler versions")
    parser.add_argument("--events", type=int, help="timed events per model and side (default 20)")
    parser.add_argument("--versions", type=int, help="filler versions of the large models "
                                                     "(default 1000)")
    parser.add_argument("--hand-webhooks", action="store_true",
                        help="keep reghook subscribed while the by-hand sequence runs (default: "
                             "disabled meanwhile, so the baseline carries no webhook traffic)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile reghook's worker on the timed run.finished events; stats "
                             "to bench/results/govern.prof and the top functions to the JSON")
    parser.add_argument("--settle", type=float, default=20.0,
                        help="wait up to this many seconds for other load to calm down before "
                             "the timed phase (default 20; 0: don't wait)")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the figures")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a target is missed (errors always exit 1)")
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> dict[str, Any]:
    """Event counts and registry size: the full run, or a smoke run with --quick."""
    quick = args.quick
    return {
        "events": max(1, args.events or (5 if quick else 20)),
        "versions": max(1, args.versions or (100 if quick else 1000)),
        "warmup": 1,
        # Events per model and side before the sides swap: short blocks spread the
        # machine's changing background load evenly; each swap costs 2 x 1.3 s.
        "block": 2,
        "hand_webhooks": args.hand_webhooks,
        "settle_s": 0.0 if quick else args.settle,
        "quick": quick,
    }


def main(argv: list[str] | None = None) -> int:
    """Set up, measure, print the table, write the JSON; 1 on errors (or missed, --strict)."""
    args = parse_args(argv)
    plan = make_plan(args)

    def log(message: str) -> None:
        print(message, flush=True)

    # No telemetry from the client or the server (which inherits this environment).
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "true"
    # mlflow's "Waiting up to 300 seconds ..." lines: not ours to print.
    os.environ["MLFLOW_LOGGING_LEVEL"] = "WARNING"
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C: reghook and the server stopped.
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
        "models": MODELS,
    }
    log(f"{plan['events']} timed events per model and side, {plan['versions']} versions in "
        f"the large models; background load {results['machine']['background_cores_at_start']} "
        "cores busy")
    try:
        results.update(run(args, plan, log))
    except BenchFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: reghook and the mlflow server are stopped", file=sys.stderr)
        return 130
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["latency"] = summarize(results["samples"])
    results["verdicts"] = verdicts(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    print(f"\nwritten: {args.json} ({results['elapsed_s']} s)")
    if "profile" in results:
        print(f"profile of the worker: {args.json.parent / 'govern.prof'} (top functions in the JSON)")
    for problem in results["problems"]:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if results["problems"]:
        return 1
    if args.strict and not all(row["met"] for row in results["verdicts"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
