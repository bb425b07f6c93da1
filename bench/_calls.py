"""MLflow REST calls counted at the HTTP transport, attributed to what the calling thread was doing.

Wrapping ``requests``' ``HTTPAdapter.send`` sees every call reghook and the by-hand
baseline make, whichever helper made it. Work (the worker on one event, one by-hand
sequence) opens a scope; its thread's calls land there. A ``shared`` scope (the
worker's, one event at a time) also takes the calls of helper threads (reghook's
side reads, MLflow's own download threads). Calls outside any scope (setup,
checks) are not counted. Each scope keeps its calls in order, with their times
and threads, so a sequence shows what overlapped.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests.adapters

# Writes that make the MLflow server send a webhook (when they succeed).
WEBHOOK_WRITES = frozenset({"POST /api/2.0/mlflow/registered-models/create",
                            "POST /api/2.0/mlflow/model-versions/create",
                            "POST /api/2.0/mlflow/model-versions/set-tag",
                            "POST /api/2.0/mlflow/registered-models/alias",
                            "DELETE /api/2.0/mlflow/registered-models/alias"})


def endpoint(method: str, path: str) -> str:
    """``METHOD /path`` with ids replaced by placeholders, so calls group by endpoint."""
    path = re.sub(r"m-[0-9a-f]{32}", "{model_id}", path.split("?", 1)[0])
    path = re.sub(r"(/mlflow-artifacts/artifacts)/.*/([^/]+)$", r"\1/…/\2", path)
    return f"{method} {path}"


@dataclass
class Scope:
    """One unit of work and the MLflow calls made while it ran."""

    meta: dict[str, Any]
    calls: Counter[str] = field(default_factory=Counter)
    seconds_by: Counter[str] = field(default_factory=Counter)
    ok_writes: int = 0
    opened: float = field(default_factory=time.perf_counter)
    thread: str = field(default_factory=lambda: threading.current_thread().name)
    # (sent, seconds, endpoint, thread) of each call, in the order they ended.
    sequence: list[tuple[float, float, str, str]] = field(default_factory=list)


class CallCounter:
    """Counts the requests this process sends to one server, while installed."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.scopes: list[Scope] = []
        self._local = threading.local()
        self._shared: Scope | None = None
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[CallCounter]:
        """Wrap ``HTTPAdapter.send`` for the ``with`` block."""
        original = requests.adapters.HTTPAdapter.send

        def send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            response = original(adapter, request, *args, **kwargs)
            if (request.url or "").startswith(self.base + "/"):
                self._count(endpoint(request.method or "GET", request.url[len(self.base):]),
                            response.status_code, started, time.perf_counter() - started)
            return response

        requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]
        try:
            yield self
        finally:
            requests.adapters.HTTPAdapter.send = original  # type: ignore[method-assign]

    def _count(self, name: str, status: int, started: float, seconds: float) -> None:
        scope = getattr(self._local, "scope", None)
        if scope is None and threading.current_thread() is not threading.main_thread():
            scope = self._shared
        if scope is None:
            return
        with self._lock:
            scope.calls[name] += 1
            scope.seconds_by[name] += seconds
            scope.ok_writes += name in WEBHOOK_WRITES and 200 <= status < 300
            scope.sequence.append((started, seconds, name, threading.current_thread().name))

    def open(self, *, shared: bool = False, **meta: Any) -> Scope:
        """Attribute this thread's calls (and with ``shared``, helper threads') to a new scope."""
        self._local.scope = opened = Scope(dict(meta))
        if shared:
            self._shared = opened
        return opened

    def close(self, scope: Scope) -> None:
        """Stop counting into ``scope`` (on the thread that opened it) and keep it."""
        self._local.scope = None
        if self._shared is scope:
            self._shared = None
        with self._lock:
            self.scopes.append(scope)

    def select(self, **meta: Any) -> list[Scope]:
        """The closed scopes whose meta has these values."""
        with self._lock:
            return [s for s in self.scopes if all(s.meta.get(k) == v for k, v in meta.items())]


def per_scope(scopes: list[Scope]) -> dict[str, Any]:
    """Calls per scope on average, split by endpoint, for a group of like scopes."""
    n = max(len(scopes), 1)
    calls, seconds = sum((s.calls for s in scopes), Counter()), sum((s.seconds_by for s in scopes), Counter())
    totals = [s.calls.total() for s in scopes] or [0]
    return {"count": len(scopes), "calls_per_event": round(calls.total() / n, 2),
            "median_calls": statistics.median_low(totals), "max_calls": max(totals),
            "by_endpoint": {name: {"per_event": round(count / n, 2),
                                   "ms_per_call": round(seconds[name] / count * 1000, 1)}
                            for name, count in calls.most_common()}}


def in_flight(scope: Scope) -> tuple[float, float | None, float | None]:
    """(seconds with at least one call in flight, first call sent, last call ended): calls made
    side by side count once, so the rest of the event's time is the caller's own work."""
    spans = sorted((sent, sent + seconds) for sent, seconds, _name, _thread in scope.sequence)
    busy, reach = 0.0, float("-inf")
    for start, end in spans:
        busy += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return busy, (spans[0][0] if spans else None), (reach if spans else None)


def timeline(scope: Scope) -> list[str]:
    """A scope's calls by the time they were sent (ms after the scope opened), with their
    duration and thread: calls whose spans overlap ran side by side."""
    threads: dict[str, str] = {scope.thread: "own"}
    rows = []
    for sent, seconds, name, thread in sorted(scope.sequence):
        label = threads.setdefault(thread, f"side {len(threads)}")
        start = (sent - scope.opened) * 1000
        rows.append(f"{start:7.1f} -> {start + seconds * 1000:7.1f} ms  {label:<7} {name}")
    return rows
