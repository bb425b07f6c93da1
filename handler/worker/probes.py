"""A worker's own port: ``/metrics``, ``/healthz`` and ``/readyz`` (``REGHOOK_WORKER_PORT``).

A tiny threaded HTTP server in a daemon thread: a worker serves no web app,
so no Flask. ``/metrics`` is this process's counters and histograms plus the
backlog gauges, which are read from the store at scrape time: every worker
reports the same store-wide value, so dashboards and alerts take ``max()``
of them across workers, never ``sum()`` (docs/processing.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from handler import metrics
from handler.logs import get_logger, redact
from handler.store.operations import Backlog

log = get_logger("worker.probes")


class Observed(Protocol):
    """What the probes read of a worker runtime."""

    last_tick: float

    @property
    def stopping(self) -> threading.Event:
        """Set once the worker is stopping."""


class BacklogSource(Protocol):
    """The store's store-wide numbers (:class:`handler.store.operations.Operations`)."""

    def backlog(self) -> Backlog:
        """Unfinished events, failures and outbox depth."""


class BacklogCollector:
    """Prometheus gauges computed from the store at each scrape."""

    def __init__(self, store: BacklogSource) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        """Yield the backlog gauges; ``reghook_store_up`` 0 when the store does not answer."""
        up = GaugeMetricFamily("reghook_store_up", "Whether the event store answered this scrape.")
        try:
            backlog = self.store.backlog()
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when the store does not
            log.error("backlog_error", error=redact(f"{type(exc).__name__}: {exc}"))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("reghook_queue_events",
                                  "Events not yet finished, by source and status (store-wide).",
                                  labels=["source", "status"])
        for (source, status), count in sorted(backlog.events.items()):
            depth.add_metric([source, status], count)
        yield depth
        age = GaugeMetricFamily("reghook_queue_oldest_age_seconds",
                                "Age of the oldest unfinished event, by source (store-wide).",
                                labels=["source"])
        for source, seconds in sorted(backlog.oldest_age_s.items()):
            age.add_metric([source], seconds)
        yield age
        yield GaugeMetricFamily("reghook_events_failed",
                                "Events that ran out of attempts or failed permanently (store-wide).",
                                value=backlog.failed_events)
        outbox = GaugeMetricFamily("reghook_outbox_messages",
                                   "Notifications pending, being sent or failed (store-wide).",
                                   labels=["status"])
        for status in ("pending", "sending", "failed"):
            outbox.add_metric([status], backlog.outbox.get(status, 0))
        yield outbox
        yield GaugeMetricFamily("reghook_outbox_oldest_pending_age_seconds",
                                "Age of the oldest notification not yet sent (store-wide).",
                                value=backlog.oldest_pending_message_age_s)
        if backlog.oldest_watch_look_age_s is not None:
            # Absent, not 0, until the watch first looks: "no watch" is not "no lag".
            yield GaugeMetricFamily("reghook_watch_oldest_look_age_seconds",
                                    "Seconds since the registry watch last looked at its least "
                                    "recently watched model (store-wide).",
                                    value=backlog.oldest_watch_look_age_s)


class Probes:
    """The worker's HTTP port; :meth:`start` serves it in a daemon thread."""

    def __init__(self, runtime: Observed, store: BacklogSource, *, host: str, port: int,
                 stale_after_s: float) -> None:
        self.runtime, self.store = runtime, store
        # The loop ticks between events: silent longer than this means stuck.
        self.stale_after_s = stale_after_s
        self.gauges = CollectorRegistry(auto_describe=False)
        self.gauges.register(BacklogCollector(store))
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        return int(self.server.server_address[1])

    def start(self) -> None:
        """Serve in a daemon thread until :meth:`close`."""
        threading.Thread(target=self.server.serve_forever, name="reghook-probes",
                         daemon=True).start()
        log.info("worker_probes_listening", port=self.port)

    def close(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str) -> tuple[int, bytes, str]:
        """The status, body and content type for a GET of ``path``."""
        if path == "/metrics":
            body, content_type = metrics.render()
            return 200, body + generate_latest(self.gauges), content_type
        if path == "/healthz":
            stale = time.monotonic() - self.runtime.last_tick > self.stale_after_s
            return (503, b"worker loop stalled\n", "text/plain") if stale else (200, b"ok\n",
                                                                                 "text/plain")
        if path == "/readyz":
            if self.runtime.stopping.is_set():
                return 503, b"stopping\n", "text/plain"
            try:
                self.store.backlog()
            except Exception:  # noqa: BLE001 - not ready is the answer, not an error
                return 503, b"event store unreachable\n", "text/plain"
            return 200, b"ready\n", "text/plain"
        return 404, b"not found\n", "text/plain"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        probes = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, content_type = probes.answer(self.path.split("?", 1)[0])
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Scrapes every few seconds are not worth a log line."""

        return Handler
