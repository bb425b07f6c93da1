"""bench/govern.py's world: the registry made before anything is timed, and reghook watched.

The registry is filled before reghook subscribes, so none of it reaches reghook.
:class:`Watched` wraps reghook's store: a claim opens a call scope for the event,
the final status's commit closes it and wakes whoever waits (no polling).
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from _calls import CallCounter, Scope

from handler.demo.churn import log_churn_run
from handler.store import Store

STAGING = "staging"
DEMO_POLICY = Path(__file__).resolve().parent.parent / "handler" / "demo" / "policy.yaml"


class BenchFailed(Exception):
    """Something the figures depend on went wrong (the message says what)."""


class Run(NamedTuple):
    """A logged run and its logged model (the source a version is registered from)."""

    run_id: str
    model_id: str


def log_runs(tracking_uri: str, experiment: str, count: int) -> list[Run]:
    """``count`` runs of the demo's churn model with one seed: the same metrics, dataset,
    signature and tags, so every gate passes (the champion's too) and every version is aliased."""
    from mlflow import MlflowClient

    client, runs = MlflowClient(tracking_uri=tracking_uri), []
    for _ in range(count):
        # mlflow prints "View run at ..." lines: not ours to show.
        with contextlib.redirect_stdout(io.StringIO()):
            run_id = log_churn_run(tracking_uri, experiment, seed=7).run_id
        runs.append(Run(run_id, client.get_run(run_id).outputs.model_outputs[0].model_id))
    return runs


def register(client: Any, model: str, run: Run) -> str:
    """One version of ``model`` from ``run``."""
    return str(client.create_model_version(model, f"models:/{run.model_id}", run_id=run.run_id,
                                           model_id=run.model_id, await_creation_for=0).version)


def fill(tracking_uri: str, model: str, run: Run, count: int, threads: int = 4) -> float:
    """``count`` more versions from a run no timed event uses (reghook's lookup by run id never
    sees them; "list every version" pages through all), ``threads`` at a time; seconds taken."""
    from mlflow import MlflowClient

    local = threading.local()

    def one(attempt: int) -> None:
        local.client = getattr(local, "client", None) or MlflowClient(tracking_uri=tracking_uri)
        try:
            register(local.client, model, run)
        except Exception:  # the server's sqlite may be busy: twice more, then give up
            if attempt >= 3:
                raise
            time.sleep(0.1 * attempt)
            one(attempt + 1)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, [1] * count))
    return round(time.perf_counter() - started, 1)


def setup_registry(tracking_uri: str, models: dict[str, dict[str, str]], experiment: str,
                   plan: dict[str, Any], log: Any) -> dict[str, Any]:
    """Runs, each model's v1 holding ``champion``, the large ones' filler; time each step took.

    ``models``: size → side → model name. reghook's runs are per size; the
    baselines register the last run logged (the by-hand sequence's "latest run").
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    per_model = plan["warmup"] + plan["events"]
    started = time.perf_counter()
    # Champion and filler first, reghook's runs per size, the by-hand sequence's "latest run" last.
    logged = log_runs(tracking_uri, experiment, 3 + len(models) * per_model)
    setup: dict[str, Any] = {"runs_logged": len(logged),
                             "log_runs_s": round(time.perf_counter() - started, 1)}
    log(f"logged {len(logged)} runs in {setup['log_runs_s']} s")
    for model in (m for sides in models.values() for m in sides.values()):
        client.create_registered_model(model)
        client.set_registered_model_alias(model, "champion", register(client, model, logged[0]))
    setup["fill_s"] = {m: fill(tracking_uri, m, logged[1], plan["versions"])
                       for m in models["large"].values()}
    log(f"{plan['versions']} filler versions per large model in {setup['fill_s']} s (4 threads)")
    runs = {size: logged[2 + i * per_model:2 + (i + 1) * per_model]
            for i, size in enumerate(models)}
    return {"runs": runs, "latest": logged[-1], "setup": setup,
            "experiment_id": client.get_experiment_by_name(experiment).experiment_id}


def policy(models: list[str], experiment: str) -> str:
    """The demo's churn policy per model: every gate on, no ``promotion`` block (no guard)."""
    template = yaml.safe_load(DEMO_POLICY.read_text())["models"][0]
    template.pop("promotion")
    template["on_pass"]["aliases"] = [STAGING]
    return yaml.safe_dump({"models": [{**template, "name": m, "experiment": experiment}
                                      for m in models]})


class Watched:
    """A running in-process reghook's store, wrapped so the benchmark sees each event end."""

    def __init__(self, store: Store, counter: CallCounter, models: set[str]) -> None:
        self.store, self.counter, self.models = store, counter, models
        self.cond = threading.Condition()
        self.finished: dict[str, dict[str, Any]] = {}
        self.kinds: dict[str, str] = {}
        self.mlflow_finished = 0  # webhook deliveries processed, echoes or not
        self._open: dict[str, tuple[Scope, float]] = {}
        self._claim, self._finish = store.claim_event, store.finish_event
        # The worker shares this store object: it calls these wrappers.
        store.claim_event = self.claim_event  # type: ignore[method-assign]
        store.finish_event = self.finish_event  # type: ignore[method-assign]

    def claim_event(self, *args: Any, **kwargs: Any) -> Any:
        """The store's claim; a claimed event's MLflow calls are counted in its own scope."""
        for stale, _ in self._open.values():  # an event put back for a retry
            self.counter.close(stale)
        self._open.clear()
        event = self._claim(*args, **kwargs)
        if event is not None:
            payload = json.loads(event.body)
            model = (payload.get("data") or {}).get("name") or payload.get("model")
            # An echo concerns one of reghook's models, which only reghook writes to.
            kind = (("echo" if model in self.models else "foreign") if event.source == "mlflow"
                    else "run.finished" if event.type == "run.finished" else "other")
            self.kinds[event.id] = kind
            scope = self.counter.open(shared=True, side="reghook", kind=kind, type=event.type,
                                      model=model, event_id=event.id)
            self._open[event.id] = (scope, time.perf_counter())
        return event

    def finish_event(self, event_id: str, owner: str, status: str, error: str | None = None,
                     reason: str | None = None) -> bool:
        """The store's finish_event, then the moment it committed, for whoever waits."""
        processed = time.perf_counter()
        scope, started = self._open.pop(event_id, (None, processed))
        if scope is not None:
            self.counter.close(scope)
        changed = self._finish(event_id, owner, status, error, reason=reason)
        # perf_counter seconds: claimed (processing starts), use case returned, status committed.
        finished = {"status": status, "started_at": started, "processed_at": processed,
                    "done_at": time.perf_counter(), "reason": reason or error, "scope": scope}
        with self.cond:
            self.finished[event_id] = finished
            self.mlflow_finished += self.kinds.get(event_id) in ("echo", "foreign")
            self.cond.notify_all()
        return bool(changed)

    def wait_finished(self, event_id: str, timeout_s: float) -> dict[str, Any]:
        """How the event ended, once it has."""
        with self.cond:
            if not self.cond.wait_for(lambda: event_id in self.finished, timeout_s):
                raise BenchFailed(f"event {event_id} not finished after {timeout_s} s: "
                                  f"{self.store.get_event(event_id)}")
            return self.finished[event_id]

    def wait_mlflow_events(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` webhook events in all have been processed (False on timeout)."""
        with self.cond:
            return self.cond.wait_for(lambda: self.mlflow_finished >= count, timeout_s)
