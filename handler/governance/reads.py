"""Registry reads one event makes side by side, because none needs another's answer.

Each read is a round trip of 10-20 ms to MLflow; made one after another they
set most of an event's latency. A use case opens :func:`side_reads` for the
event, submits the reads that do not depend on each other and waits for their
answers where it needs them. The pool lives for one event (its ``with``
block waits for reads in flight, each bounded by MLflow's request timeout),
so nothing outlives the event and the worker's shutdown is unchanged. The
MLflow client is safe to share between threads for REST calls.

Writes and the ledger claim stay on the use case's own thread, in order:
what may run beside them is only ever a read.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

# The most reads an event makes at once beside its own thread (the champion, the candidate).
READERS = 2


@contextmanager
def side_reads() -> Iterator[ThreadPoolExecutor]:
    """A pool of :data:`READERS` threads for one event's independent reads."""
    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="reghook-read") as pool:
        yield pool
