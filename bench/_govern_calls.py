"""MLflow REST calls counted at the HTTP layer, attributed to what the calling thread was doing.

Both reghook's registry adapter and the by-hand baseline reach the MLflow
server through ``requests`` (MLflow's REST client and its artifact client
use a ``requests.Session``), so wrapping ``HTTPAdapter.send`` sees every call
whatever helper made it — including the ones ``MlflowRegistry.calls`` does
not count, such as the artifact downloads behind ``get_model_info``.

Attribution is per thread: the code that does a unit of work (the worker
thread processing one event, the benchmark running one by-hand sequence)
opens a :meth:`CallCounter.scope`, and every call that thread makes while it
is open lands in that scope. MLflow downloads artifacts from a thread pool of
its own, so a scope opened with ``shared=True`` (the worker's: one event at a
time) also takes the calls of threads that have no scope, except the main
thread's. Calls made outside any scope (setup, checks) are kept apart and
never reported as per-event cost.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests.adapters

# Writes that make the MLflow server send a webhook (when they succeed).
WEBHOOK_WRITES = frozenset({
    "POST /api/2.0/mlflow/registered-models/create",
    "POST /api/2.0/mlflow/model-versions/create",
    "POST /api/2.0/mlflow/model-versions/set-tag",
    "POST /api/2.0/mlflow/registered-models/alias",
    "DELETE /api/2.0/mlflow/registered-models/alias",
})

_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
_ARTIFACT_DIR = re.compile(r"(/mlflow-artifacts/artifacts)/.*/([^/]+)$")


def endpoint(method: str, url: str, base: str) -> str:
    """``METHOD /path`` with ids replaced by placeholders, so calls group by endpoint."""
    path = url[len(base):].split("?", 1)[0] or "/"
    path = _MODEL_ID.sub("{model_id}", path)
    path = _ARTIFACT_DIR.sub(r"\1/…/\2", path)
    return f"{method} {path}"


@dataclass
class Scope:
    """One unit of work and the MLflow calls made while it ran."""

    label: str
    meta: dict[str, Any] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    bytes_in: Counter[str] = field(default_factory=Counter)
    seconds_by: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0  # summed wall time of the calls (those of pool threads overlap)
    ok_writes: int = 0

    @property
    def total(self) -> int:
        """Calls made in this scope."""
        return sum(self.calls.values())


class CallCounter:
    """Wraps ``HTTPAdapter.send`` in this process; counts requests to one server."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.scopes: list[Scope] = []
        self.unscoped: Counter[str] = Counter()
        self._local = threading.local()
        self._shared: Scope | None = None
        self._lock = threading.Lock()
        self._original: Any = None

    def install(self) -> None:
        """Start counting (idempotent)."""
        if self._original is not None:
            return
        original = requests.adapters.HTTPAdapter.send
        counter = self

        def send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            response = original(adapter, request, *args, **kwargs)
            if request.url and request.url.startswith(counter.base + "/"):
                counter._count(request.method or "GET", request.url, response,
                               time.perf_counter() - started)
            return response

        self._original = original
        requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign]

    def uninstall(self) -> None:
        """Stop counting and put ``HTTPAdapter.send`` back."""
        if self._original is not None:
            requests.adapters.HTTPAdapter.send = self._original  # type: ignore[method-assign]
            self._original = None

    def _count(self, method: str, url: str, response: Any, seconds: float) -> None:
        name = endpoint(method, url, self.base)
        scope: Scope | None = getattr(self._local, "scope", None)
        if scope is None and threading.current_thread() is not threading.main_thread():
            scope = self._shared
        with self._lock:
            if scope is None:
                self.unscoped[name] += 1
                return
            scope.calls[name] += 1
            scope.seconds += seconds
            scope.seconds_by[name] += seconds
            # The body was read by the caller already (stream=False) or is read later;
            # Content-Length is what crossed the wire either way.
            scope.bytes_in[name] += int(response.headers.get("Content-Length") or 0)
            if name in WEBHOOK_WRITES and 200 <= response.status_code < 300:
                scope.ok_writes += 1

    @contextmanager
    def scope(self, label: str, *, shared: bool = False, **meta: Any) -> Iterator[Scope]:
        """Attribute this thread's calls (and with ``shared``, helper threads') to a new scope."""
        opened = Scope(label, dict(meta))
        previous = getattr(self._local, "scope", None)
        self._local.scope = opened
        if shared:
            self._shared = opened
        try:
            yield opened
        finally:
            self._local.scope = previous
            if shared:
                self._shared = None
            with self._lock:
                self.scopes.append(opened)

    def select(self, label: str, **meta: Any) -> list[Scope]:
        """The closed scopes with this label whose meta has these values."""
        with self._lock:
            return [s for s in self.scopes if s.label == label
                    and all(s.meta.get(k) == v for k, v in meta.items())]


def per_scope(scopes: list[Scope]) -> dict[str, Any]:
    """Calls per scope on average, split by endpoint, for a group of like scopes."""
    if not scopes:
        return {"count": 0, "calls_per_event": None, "median_calls": None, "max_calls": None,
                "by_endpoint": {}}
    total: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    for scope in scopes:
        total.update(scope.calls)
        sizes.update(scope.bytes_in)
        seconds.update(scope.seconds_by)
    n = len(scopes)
    return {
        "count": n,
        "calls_per_event": round(sum(total.values()) / n, 2),
        "call_ms_per_event": round(sum(s.seconds for s in scopes) / n * 1000, 1),
        "median_calls": sorted(s.total for s in scopes)[(n - 1) // 2],
        "max_calls": max(s.total for s in scopes),
        "by_endpoint": {name: {"per_event": round(count / n, 2),
                               "ms_per_call": round(seconds[name] / count * 1000, 1),
                               "kb_per_call": round(sizes[name] / count / 1024, 1)}
                        for name, count in sorted(total.items(), key=lambda kv: -kv[1])},
    }
