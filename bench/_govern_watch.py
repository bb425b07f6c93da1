"""reghook's worker, instrumented from outside: call scopes, stage times, a completion signal.

Two wrappers, no change to reghook: ``runtime.process`` opens a call scope
per event (so MLflow calls are attributed to the event being processed) and
notes when processing started and ended; the store's ``finish_event`` notes
when the final status committed and wakes whoever waits for that event.
That commit is the moment the event becomes ``done`` in reghook's store, so
latency is measured without polling.
"""

from __future__ import annotations

import cProfile
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from _govern_calls import CallCounter

from tests.support.harness import Reghook


class BenchFailed(Exception):
    """Something the figures depend on went wrong (the message says what)."""


@dataclass
class Finished:
    """How and when one event ended (perf_counter seconds)."""

    status: str
    started_at: float  # the worker began processing (after claiming it)
    processed_at: float  # the use case returned
    done_at: float  # the final status committed
    reason: str | None


class Watched:
    """The worker of a running in-process reghook, wrapped."""

    def __init__(self, handle: Reghook, counter: CallCounter, reghook_models: set[str],
                 profile: bool = False) -> None:
        self.handle = handle
        self.counter = counter
        self.models = reghook_models
        self.cond = threading.Condition()
        self.finished: dict[str, Finished] = {}
        self.kinds: dict[str, str] = {}
        self.mlflow_finished = 0
        self.profiling = False  # set while timed run.finished events are to be profiled
        self.profiler = cProfile.Profile() if profile else None
        self._started: dict[str, tuple[float, float]] = {}
        # MlflowRegistry.calls (reghook's own count of registry calls) per event, to set
        # beside the HTTP-layer count.
        self.adapter_calls: dict[str, int] = {}
        runtime = handle.runtime
        self._process = runtime.process
        self._finish = handle.store.finish_event
        runtime.process = self.process
        # runtime.store is handle.store: the worker calls this wrapper.
        handle.store.finish_event = self.finish_event  # type: ignore[method-assign]

    def kind(self, event: Any) -> tuple[str, str | None]:
        """(echo | foreign | run.finished | other, model) of a claimed event.

        An echo is a registry webhook about one of reghook's models: in this
        benchmark only reghook writes to those, so each is caused by its writes.
        """
        try:
            payload = json.loads(event.body)
        except ValueError:
            return "other", None
        if event.source == "mlflow":
            model = (payload.get("data") or {}).get("name")
            return ("echo" if model in self.models else "foreign"), model
        if event.type == "run.finished":
            return "run.finished", payload.get("model")
        return "other", None

    def process(self, event: Any) -> Any:
        """Process one event with its MLflow calls counted in its own scope."""
        kind, model = self.kind(event)
        self.kinds[event.id] = kind
        profiler = self.profiler if (self.profiling and kind == "run.finished") else None
        registry = getattr(self.handle.governor, "registry", None)
        calls_before = getattr(registry, "calls", 0)
        started = time.perf_counter()
        try:
            with self.counter.scope("reghook", shared=True, kind=kind, type=event.type,
                                    model=model, event_id=event.id, source=event.source):
                if profiler is None:
                    return self._process(event)
                return profiler.runcall(self._process, event)
        finally:
            self._started[event.id] = (started, time.perf_counter())
            self.adapter_calls[event.id] = getattr(registry, "calls", 0) - calls_before

    def finish_event(self, event_id: str, owner: str, status: str, *args: Any,
                     **kwargs: Any) -> bool:
        """The store's finish_event, then the moment it committed, for whoever waits."""
        changed = self._finish(event_id, owner, status, *args, **kwargs)
        at = time.perf_counter()
        reason = kwargs.get("reason") or kwargs.get("error") or (args[0] if args else None)
        started, processed = self._started.pop(event_id, (at, at))
        with self.cond:
            self.finished[event_id] = Finished(status, started, processed, at, reason)
            if self.kinds.get(event_id) in ("echo", "foreign"):
                self.mlflow_finished += 1
            self.cond.notify_all()
        return bool(changed)

    def wait_finished(self, event_id: str, timeout_s: float) -> Finished:
        """How the event ended, once it has."""
        with self.cond:
            if not self.cond.wait_for(lambda: event_id in self.finished, timeout_s):
                raise BenchFailed(f"event {event_id} not finished after {timeout_s} s: "
                                  f"{self.handle.store.get_event(event_id)}")
            return self.finished[event_id]

    def wait_mlflow_events(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` webhook events in all have been processed (False on timeout)."""
        with self.cond:
            return self.cond.wait_for(lambda: self.mlflow_finished >= count, timeout_s)

    def settle(self, timeout_s: float, idle_s: float = 0.05) -> None:
        """Wait until nothing is queued or processing for ``idle_s`` (bounded)."""
        deadline = time.monotonic() + timeout_s
        idle_since: float | None = None
        while time.monotonic() < deadline:
            counts = self.handle.store.counts_by_status()
            if counts.get("queued") or counts.get("processing"):
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= idle_s:
                return
            time.sleep(0.01)
        raise BenchFailed(f"reghook still busy after {timeout_s} s")
