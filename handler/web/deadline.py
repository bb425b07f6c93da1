"""A deadline for reading a request body: a sender may not hold a thread by trickling it.

A body that starts and never finishes (a few bytes, then silence, or one byte
every few seconds) would block the thread reading it for as long as the
sender likes: eight such connections silence ``reghook serve``, two a sync
gunicorn. A per-``recv`` socket timeout does not bound a trickle, so one
watchdog thread shuts the reading side of a socket whose deadline passed:
the blocked read then ends, gunicorn reports the body incomplete, and the
caller is answered 400 (docs/routes.md). The proxy in front should buffer
bodies anyway (deploy/README.md); this is the last line.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from handler.logs import get_logger

log = get_logger("web")


class BodyDeadlines:
    """One daemon thread that cuts off the reads of sockets past their deadline."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, socket.socket]] = []
        self._live: set[int] = set()
        self._tickets = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextmanager
    def bounded(self, sock: socket.socket | None, seconds: float) -> Iterator[None]:
        """Within the block, reads of ``sock`` end at the latest ``seconds`` from now."""
        if sock is None:  # not served by gunicorn (Flask's test client): nothing to bound
            yield
            return
        ticket = next(self._tickets)
        with self._wake:
            self._start()
            heapq.heappush(self._due, (time.monotonic() + seconds, ticket, sock))
            self._live.add(ticket)
            # Wake the watchdog only when this deadline is now the first: with one
            # deadline for every body, a new one is always the last, and waking it
            # per request (a thread switch and a GIL hand-off) cost ~15 % of an intake.
            if self._due[0][1] == ticket:
                self._wake.notify()
        try:
            yield
        finally:
            with self._wake:
                # Under the lock: once the body is read, the watchdog never
                # touches this socket (it may carry the next keep-alive request).
                self._live.discard(ticket)

    def _start(self) -> None:
        # After a fork (gunicorn workers) the thread of the parent is gone: start one here.
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._watch, name="body-deadlines", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        with self._wake:
            while True:
                while self._due and self._due[0][1] not in self._live:
                    heapq.heappop(self._due)  # read in time: forget it
                if not self._due:
                    self._wake.wait()
                    continue
                due, ticket, sock = self._due[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._due)
                self._live.discard(ticket)
                self._cut(sock)

    @staticmethod
    def _cut(sock: socket.socket) -> None:
        with suppress(OSError):  # already closed by the sender: nothing left to cut
            sock.shutdown(socket.SHUT_RD)
        log.warning("body_deadline_passed")


DEADLINES = BodyDeadlines()
