"""Stopping a worker without making anyone wait for its lease (docs/processing.md).

SIGTERM (Kubernetes' pod shutdown, Procfile platforms) sets the runtime's
stop event, which every long wait of the worker waits on (a pending
version in the registry adapter, notification pacing, the idle sleep), and,
when the main thread is inside an event, raises :class:`WorkerStopping`
there so that even a registry call stuck in its own retries is cut short.
The runtime then gives the event back (:meth:`handler.store.Store.release_event`):
queued, due now, lease cleared; another worker takes it at once. Governance
is idempotent, so an event cut off at any point converges when retaken.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Protocol


class WorkerStopping(BaseException):
    """The worker was told to stop in the middle of an event: give the event back.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception``
    on the way (a channel's error handling, a retry loop) swallows it.
    """


class Stoppable(Protocol):
    """What the signal handler needs of a runtime."""

    @property
    def in_event(self) -> bool:
        """Whether this thread is inside an event that may be abandoned."""

    def stop(self) -> None:
        """Stop the loop; wake every wait."""


def stop_on_signals(runtime: Stoppable) -> None:
    """Install SIGTERM and SIGINT handlers for a runtime running in the main thread."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        runtime.stop()
        # Raised in the main thread, between two bytecodes of whatever it is
        # doing; only while an event is in flight, never inside a settle.
        if runtime.in_event:
            raise WorkerStopping(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
