"""The worker loop: claim → process → finish / retry / fail, then send due notifications.

Wakes at once when the embedded web app stores an event (``wake``); other
processes are woken by PostgreSQL NOTIFY where available, and otherwise poll
every ``REGHOOK_POLL_INTERVAL_S``. A worker that dies mid-event loses
nothing: its lease runs out and another worker takes the event over. A
worker told to stop gives its event back at once (:mod:`handler.worker.shutdown`).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from handler import metrics
from handler.backoff import backoff_s
from handler.errors import PermanentError, TransientError
from handler.governance.context import Context
from handler.governance.results import Result
from handler.logs import get_logger, redact
from handler.outcomes import Outcome
from handler.policy import PolicyFile
from handler.settings import Settings
from handler.store import Store
from handler.store.queue import ClaimedEvent, listen_for_events
from handler.worker.shutdown import WorkerStopping

log = get_logger("worker")


class WorkerRuntime:
    """One worker: a loop over the queue, in a thread or the main thread."""

    def __init__(self, store: Store, settings: Settings,
                 process: Callable[[ClaimedEvent], Result], notifier: Any = None,
                 owner: str | None = None, policies: PolicyFile | None = None,
                 stopping: threading.Event | None = None) -> None:
        self.store = store
        self.settings = settings
        self.process = process
        self.notifier = notifier
        self.policies = policies
        self.owner = owner or settings.worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self._wake = threading.Event()
        # Set by stop(); the registry adapter's long waits share it (bootstrap).
        self._stop = stopping or threading.Event()
        self._in_event = False
        self.last_tick = time.monotonic()  # the loop's heartbeat, for /healthz
        self._thread: threading.Thread | None = None
        # The governance context this worker runs use cases in (set by the
        # composition root): the tests' way to a worker's registry and ledger.
        self.context: Context | None = None
        # The registry watch (Unity Catalog sends no registry webhooks): a look
        # every ``watch_every_s`` seconds, set by the composition root when on.
        self.watch: Callable[[], int] | None = None
        self.watch_every_s = 0.0
        self._next_look = 0.0

    # --- one event ------------------------------------------------------------------

    def process_one(self, event_id: str | None = None) -> bool:
        """Claim and process one due event (or exactly ``event_id``); False when none is."""
        event = self.store.claim_event(self.owner, self.settings.lease_s, event_id)
        if event is None:
            return False
        started = time.perf_counter()
        bound = log.bind(event_id=event.id, type=event.type, attempt=event.attempts)
        try:
            result = self._process(event)
        except WorkerStopping:
            self._release(event)
        except PermanentError as exc:
            self._fail(event, redact(str(exc)))
        except TransientError as exc:
            # An interrupted wait ends in a TransientError: when stopping, give it back.
            if self.stopping.is_set():
                self._release(event)
            else:
                self._retry_or_fail(event, redact(str(exc)))
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the loop; retried, then failed
            bound.error("unexpected_error", error=redact(f"{type(exc).__name__}: {exc}"),
                        trace=redact(traceback.format_exc(limit=8)))
            self._retry_or_fail(event, redact(f"{type(exc).__name__}: {exc}"))
        else:
            self.store.finish_event(event.id, self.owner, result.status, reason=result.reason)
            label = metrics.type_label(event.type)
            metrics.EVENTS_PROCESSED.labels(label, result.status).inc()
            bound.info("event_processed", status=result.status, reason=result.reason)
        finally:
            elapsed = time.perf_counter() - started
            metrics.PROCESSING_SECONDS.labels(metrics.type_label(event.type)).observe(elapsed)
        return True

    def _process(self, event: ClaimedEvent) -> Result:
        # Only here may a signal abandon the event (handler.worker.shutdown):
        # never while its result is being written.
        self._in_event = True
        try:
            return self.process(event)
        finally:
            self._in_event = False

    @property
    def in_event(self) -> bool:
        """Whether the loop is inside an event's processing (a stop may abandon it)."""
        return self._in_event

    @property
    def stopping(self) -> threading.Event:
        """Set when the worker is told to stop: long waits wait on it."""
        return self._stop

    def _release(self, event: ClaimedEvent) -> None:
        try:
            released = self.store.release_event(event.id, self.owner)
        except Exception as exc:  # noqa: BLE001 - the lease still runs out: nothing is lost
            log.error("event_release_error", event_id=event.id,
                      error=redact(f"{type(exc).__name__}: {exc}"))
            return
        metrics.EVENTS_RELEASED.labels(event.type).inc()
        log.info("event_released", event_id=event.id, released=released)

    def _retry_or_fail(self, event: ClaimedEvent, error: str) -> None:
        if event.attempts >= self.settings.max_attempts:
            self._fail(event, f"retries exhausted after {event.attempts} attempts: {error}")
            return
        delay = backoff_s(event.attempts, self.settings.backoff_base_s, self.settings.backoff_max_s)
        self.store.retry_event(event.id, self.owner, error, delay)
        metrics.EVENTS_PROCESSED.labels(metrics.type_label(event.type), "retry").inc()
        log.warning("event_retry", event_id=event.id, error=error, delay_s=round(delay, 2),
                    attempt=event.attempts)

    def _fail(self, event: ClaimedEvent, error: str) -> None:
        if self.store.finish_event(event.id, self.owner, "failed", error):
            metrics.EVENTS_PROCESSED.labels(metrics.type_label(event.type), "failed").inc()
            log.error("event_failed", event_id=event.id, error=error)
            outcome = Outcome("failed", model=self._model_of(event), version=None,
                              event_id=event.id, reason=error)
            self.store.record(outcomes=[(c, outcome) for c in self._channels(outcome.model)])

    def _model_of(self, event: ClaimedEvent) -> str:
        try:
            payload = json.loads(event.body)
        except ValueError:
            return "?"
        data = payload.get("data") if isinstance(payload.get("data"), dict) else payload
        job = payload.get("job") if isinstance(payload.get("job"), dict) else {}
        return str(data.get("name") or data.get("model") or data.get("model_name")
                   or job.get("name") or "?")

    def _channels(self, model: str) -> list[str]:
        if self.policies is None:
            return []
        policy = self.policies.for_model(model)
        return (self.policies.channels_for(policy) if policy
                else list(self.policies.effective_channels))

    # --- loops ------------------------------------------------------------------------

    def send_notifications(self) -> int:
        """Send due outbox messages (never raises: a channel outage must not stop the worker)."""
        if self.notifier is None:
            return 0
        try:
            return int(self.notifier.send_due())
        except Exception as exc:  # noqa: BLE001 - notifications never block registry work
            log.error("notify_error", error=redact(f"{type(exc).__name__}: {exc}"))
            return 0

    def drain(self, notify_wait_s: float = 30.0) -> None:
        """Process everything due now, send notifications, and return (``--once``).

        Messages held back by pacing (Slack: about one per second) or a short
        backoff are due seconds later: wait for those, up to ``notify_wait_s``,
        so a one-shot worker does not leave its own news unsent.
        """
        while not self._stop.is_set() and self.process_one():
            pass
        deadline = time.monotonic() + notify_wait_s
        while not self._stop.is_set():
            while self.send_notifications():
                pass
            due = self.notifier.next_due_in() if self.notifier is not None else None
            if due is None or time.monotonic() + due > deadline:
                return
            self._stop.wait(max(0.01, due))  # pacing: interrupted by stop()

    def look_if_due(self) -> int:
        """Run the registry watch when its interval has passed; the changes it stored.

        Never raises: a registry outage delays the next look, it does not stop the worker.
        """
        if self.watch is None or self.watch_every_s <= 0 or time.monotonic() < self._next_look:
            return 0
        self._next_look = time.monotonic() + self.watch_every_s
        try:
            return self.watch()
        except Exception as exc:  # noqa: BLE001 - retried at the next look
            log.error("watch_error", error=redact(f"{type(exc).__name__}: {exc}"))
            return 0

    def _idle_wait(self) -> None:
        waits = [self.settings.poll_interval_s]
        if self.watch is not None and self.watch_every_s > 0:
            waits.append(self._next_look - time.monotonic())
        for due in (self.store.next_event_due_in(),
                    self.notifier.next_due_in() if self.notifier is not None else None):
            if due is not None:
                waits.append(due)
        self._wake.wait(max(0.01, min(waits)))
        self._wake.clear()

    def run_forever(self) -> None:
        """Loop until :meth:`stop`: process, notify, sleep until woken or something is due."""
        log.info("worker_started", owner=self.owner)
        if not self.store.tx.sqlite:
            threading.Thread(target=listen_for_events, name="reghook-listen", daemon=True,
                             args=(self.store.engine, self.wake, self._stop)).start()
        while not self._stop.is_set():
            self.last_tick = time.monotonic()
            try:
                busy = self.process_one()
                self.send_notifications()
                busy = self.look_if_due() > 0 or busy
            except Exception as exc:  # noqa: BLE001 - store outage: wait and try again
                log.error("worker_loop_error", error=redact(f"{type(exc).__name__}: {exc}"))
                busy = False
                self._stop.wait(self.settings.poll_interval_s)
            if not busy:
                self._idle_wait()

    def wake(self, _event_id: str | None = None) -> None:
        """Tell the loop an event arrived (called by the embedded web app)."""
        self._wake.set()

    def start_thread(self) -> None:
        """Run the loop in a daemon thread (embedded ``reghook serve``)."""
        self._thread = threading.Thread(target=self.run_forever, name="reghook-worker",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop; the current event is given back at its next wait (or at once:
        :func:`handler.worker.shutdown.stop_on_signals`)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
