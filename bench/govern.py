"""Governance benchmark: reghook's run.finished flow against the same registration by hand.

    python bench/govern.py            # or: make bench-govern   (about 5-6 minutes)
    python bench/govern.py --quick    # smoke run: 5 events, 100 filler versions

reghook (202 → ``done``), the direct MlflowClient sequence and the floor (the
version created with its tags, one alias set, nothing read), on one fresh mlflow
server, in alternating blocks on small and 1,000-version models. See bench/README.md.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

# `handler` importable from a checkout, whatever the current directory.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _report as report
from _calls import CallCounter, in_flight
from _cpu import CpuMeter, descendants, wait_for_quiet
from _govern_figures import (
    BASELINES,
    MODELS,
    TARGETS,
    summarize_calls,
    summarize_latency,
    table,
    verdicts,
)
from _govern_stack import STAGING, BenchFailed, Watched, policy, setup_registry
from pydantic import SecretStr

from handler.demo.server import MlflowServer
from handler.demo.stack import EVENTS_SECRET, MLFLOW_WEBHOOK_SECRET, RunningReghook, running_reghook, settle
from handler.emit import post_run_finished
from handler.settings import Settings
from handler.store import upgrade

WEBHOOK_CACHE_S = 1.3  # the server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL=1 s
TIMEOUT_S = 60.0


class Bench:
    """reghook, the baselines' client and the samples taken."""

    def __init__(self, url: str, reghook: RunningReghook, counter: CallCounter, watched: Watched,
                 setup: dict[str, Any], plan: dict[str, Any]) -> None:
        from mlflow import MlflowClient

        self.reghook, self.counter, self.watched, self.plan = reghook, counter, watched, plan
        self.runs = {size: list(r) for size, r in setup["runs"].items()}
        self.experiment_id, self.latest = setup["experiment_id"], setup["latest"]
        self.client = MlflowClient(tracking_uri=url)
        self.tags: dict[str, str] = {}  # the governance tags reghook wrote last (the floor's)
        self.samples: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.expected_echoes = 0

    def govern(self, size: str, phase: str) -> None:
        """One run.finished through reghook, timed; the registry checked, the echoes drained."""
        model, run = MODELS[size]["reghook"], self.runs[size].pop(0)
        before = self.watched.mlflow_finished
        sent = time.perf_counter()
        answer = post_run_finished(self.reghook.url, EVENTS_SECRET, run.run_id, model, timeout_s=10)
        accepted = time.perf_counter()
        if answer.status_code != 202 or answer.json().get("status") != "queued":
            raise BenchFailed(f"/events answered {answer.status_code}: {answer.text[:300]}")
        event_id = str(answer.json()["event_id"])
        end = self.watched.wait_finished(event_id, TIMEOUT_S)
        if end["status"] != "done" or (scope := end["scope"]) is None:
            raise BenchFailed(f"run.finished {event_id} ended {end['status']}: {end['reason']}")
        holder = self.client.get_model_version_by_alias(model, STAGING)
        tags = holder.tags or {}
        if (holder.run_id != run.run_id or tags.get("reghook.status") != "passed"
                or tags.get("reghook.event_id") != event_id
                or tags.get("deployment_mode") != "batch_inference_only"):
            raise BenchFailed(f"{model}@{STAGING} is v{holder.version} (run {holder.run_id}, "
                              f"tags {tags}); expected run {run.run_id} passed by {event_id}")
        self.tags = dict(tags)
        # Every successful registry write comes back as one webhook: wait for them all.
        writes = scope.ok_writes
        self.expected_echoes += writes
        if not self.watched.wait_mlflow_events(before + writes, 15):
            self.problems.append(f"{event_id}: {writes} echoes expected, "
                                 f"{self.watched.mlflow_finished - before} processed")
        settle(self.reghook.store, 0.05, 15, BenchFailed)
        done, started = end["done_at"], end["started_at"]
        call, first, last = in_flight(scope)
        # Stages: stored -> claimed by the woken worker -> use case -> final status committed;
        # call: time with a call to MLflow in flight (side by side counted once); outside
        # calls: reghook's own work (store, wake-up, Python), before, between and after them.
        ms = {"accepted_to_done": done - accepted, "sent_to_done": done - sent,
              "intake": accepted - sent, "sent_to_claimed": started - sent,
              "use_case": end["processed_at"] - started, "finish": done - end["processed_at"],
              "call": call, "outside_calls": done - accepted - call,
              "claimed_to_first_call": (first or started) - started,
              "last_call_to_done": done - (last or done)}
        self.samples.append({"side": "reghook", "size": size, "phase": phase,
                             "event_id": event_id, "calls": scope.calls.total(),
                             **{f"{k}_ms": round(v * 1000, 2) for k, v in ms.items()}})

    def by_hand(self, size: str, phase: str) -> None:
        """The direct MlflowClient sequence a governance script would run, timed."""
        model, client = MODELS[size]["by-hand"], self.client
        scope = self.counter.open(side="by-hand", model=model, size=size, phase=phase)
        started = time.perf_counter()
        latest = client.search_runs([self.experiment_id], order_by=["attributes.start_time DESC"],
                                    max_results=1)[0]
        if not client.search_model_versions(f"name='{model}'"):
            client.create_registered_model(model)
        model_id = latest.outputs.model_outputs[0].model_id
        created = client.create_model_version(model, f"models:/{model_id}",
                                              run_id=latest.info.run_id, model_id=model_id)
        client.set_registered_model_alias(model, STAGING, created.version)
        client.set_model_version_tag(model, created.version, "validation_status", "passed")
        client.set_model_version_tag(model, created.version, "validated_at",
                                     datetime.now(UTC).isoformat(timespec="seconds"))
        elapsed = time.perf_counter() - started
        self.counter.close(scope)
        self.samples.append({"side": "by-hand", "size": size, "phase": phase,
                             "elapsed_ms": round(elapsed * 1000, 2), "calls": scope.calls.total(),
                             "call_ms": round(sum(scope.seconds_by.values()) * 1000, 2)})

    def floor(self, size: str, phase: str) -> None:
        """The least any governor sends: the version created with its governance tags (reghook's
        last ones) and one alias set; nothing read, nothing validated."""
        model, run = MODELS[size]["floor"], self.latest
        if not self.tags:
            raise BenchFailed("the floor needs reghook's tags: reghook's side goes first")
        # MlflowClient's own set_registered_model_alias first reads the registered model (a
        # prompt check, one more GET); its registry client sends the write alone, as reghook does.
        registry = self.client._get_registry_client()
        scope = self.counter.open(side="floor", model=model, size=size, phase=phase)
        started = time.perf_counter()
        # await_creation_for left at its default: a version READY at creation (as on this
        # server) is not polled, so the call is one POST (the counts show it).
        created = self.client.create_model_version(model, f"models:/{run.model_id}",
                                                   run_id=run.run_id, tags=self.tags,
                                                   model_id=run.model_id)
        registry.set_registered_model_alias(model, STAGING, created.version)
        elapsed = time.perf_counter() - started
        self.counter.close(scope)
        self.samples.append({"side": "floor", "size": size, "phase": phase,
                             "elapsed_ms": round(elapsed * 1000, 2), "calls": scope.calls.total(),
                             "call_ms": round(sum(scope.seconds_by.values()) * 1000, 2)})

    def webhook(self, enabled: bool) -> None:
        """reghook's subscription on or off (the baseline carries no webhook traffic)."""
        assert self.reghook.webhook_id is not None
        self.client.update_webhook(self.reghook.webhook_id,
                                   status="ACTIVE" if enabled else "DISABLED")
        time.sleep(WEBHOOK_CACHE_S)

    def measure(self, phase: str, events: int, block: int) -> None:
        """Blocks of events, the sides in turns (ABCCBA), small and large alternating; the
        webhook switched only where reghook's side starts or ends."""
        subscribed = True
        sides = {"reghook": self.govern, "by-hand": self.by_hand, "floor": self.floor}
        order = ["reghook", *BASELINES]
        try:
            for turn, first in enumerate(range(0, events, block)):
                for side in order if turn % 2 == 0 else order[::-1]:
                    if (side == "reghook") != subscribed:
                        subscribed = not subscribed
                        self.webhook(subscribed)
                    for i in range(min(block, events - first)):
                        for size in list(MODELS)[:: 1 if (i + turn) % 2 == 0 else -1]:
                            sides[side](size, phase)
                report.log(f"  {phase}: {min(events, first + block)}/{events} events per model")
        finally:
            if not subscribed:
                self.webhook(True)


def start_reghook(stack: ExitStack, work: Path, url: str) -> RunningReghook:
    """reghook in this process, as the demo runs it, governing the ``reghook_*`` models."""
    (work / "policy.yaml").write_text(policy([m["reghook"] for m in MODELS.values()], "bench-govern"))
    database_url = f"sqlite:///{work / 'reghook.db'}"
    upgrade(database_url)
    os.environ["MLFLOW_TRACKING_URI"] = url  # the worker's registry client reads it
    settings = Settings(database_url=database_url, policy=str(work / "policy.yaml"),
                        mlflow_secrets=SecretStr(MLFLOW_WEBHOOK_SECRET),
                        events_secrets=SecretStr(EVENTS_SECRET), log_level="WARNING",
                        backoff_base_s=0.2, backoff_max_s=2, poll_interval_s=0.2)
    reghook = stack.enter_context(running_reghook(settings, url,
                                                  webhook_secret=MLFLOW_WEBHOOK_SECRET))
    notifier = getattr(reghook.runtime, "notifier", None)
    if notifier is not None:  # the log channel's lines go to a file, off the terminal
        notifier.stdout = stack.enter_context((work / "notifications.jsonl").open("w"))
    return reghook


def run(plan: dict[str, Any]) -> dict[str, Any]:
    """Start everything, set up, measure; everything stopped on the way out."""
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        work = Path(stack.enter_context(TemporaryDirectory(prefix="reghook-govern-")))
        server = MlflowServer(work / "mlflow")
        stack.callback(server.stop)  # registered first: stopped last, whatever happens
        started = time.perf_counter()
        server.start()
        results["server_start_s"] = round(time.perf_counter() - started, 1)
        report.log(f"mlflow server on {server.url} ({results['server_start_s']} s to /health)")
        counter = stack.enter_context(CallCounter(server.url).installed())
        setup = setup_registry(server.url, MODELS, "bench-govern", plan, report.log)
        results["setup"] = setup["setup"]
        reghook = start_reghook(stack, work, server.url)
        watched = Watched(reghook.store, counter, {m["reghook"] for m in MODELS.values()})
        time.sleep(WEBHOOK_CACHE_S)  # the new subscription reaches the server's cache
        bench = Bench(server.url, reghook, counter, watched, setup, plan)
        bench.measure("warmup", plan["warmup"], plan["warmup"])
        busy = wait_for_quiet(plan["settle_s"], report.BUSY_MACHINE_CORES)
        report.log(f"warm-up done; other load before the timed phase: {busy} cores busy")
        assert server.process is not None
        pid = server.process.pid
        meter = CpuMeter(lambda: descendants(pid))  # the client is this process
        started = time.perf_counter()
        with meter.measure():
            bench.measure("timed", plan["events"], plan["block"])
        results["measure_s"] = round(time.perf_counter() - started, 1)
        results["cpu"] = meter.summary()
        settle(reghook.store, 0.05, 15, BenchFailed)
        results["samples"], results["problems"] = bench.samples, bench.problems
        results["calls"] = summarize_calls(counter, bench.samples)
        results["echo_check"] = {"expected": bench.expected_echoes,
                                 "processed": sum(k == "echo" for k in watched.kinds.values())}
    return results


def main() -> int:
    """Set up, measure, print the table, write the JSON; 1 on errors (or missed, --strict)."""
    parser = report.parser(__doc__, "govern")
    parser.add_argument("--events", type=int, help="timed events per model and side (default 20)")
    parser.add_argument("--versions", type=int, help="filler versions per large model (default 1000)")
    args = parser.parse_args()
    # Events per model and side before the sides swap: short blocks spread the machine's
    # changing load evenly; each swap costs 2 x 1.3 s.
    plan = {"events": max(1, args.events or (5 if args.quick else 20)),
            "versions": max(1, args.versions or (100 if args.quick else 1000)),
            "warmup": 1, "block": 2, "settle_s": 0.0 if args.quick else args.settle,
            "quick": args.quick}
    # No telemetry from the client or the server (which inherits this environment), and
    # none of mlflow's "Waiting up to 300 seconds ..." lines.
    os.environ.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
                      MLFLOW_LOGGING_LEVEL="WARNING")
    results = report.begin(plan, TARGETS)
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
    results["latency"] = summarize_latency(results["samples"])
    results["verdicts"] = verdicts(results)
    return report.finish(results, table, args.json, args.strict)


if __name__ == "__main__":
    sys.exit(main())
