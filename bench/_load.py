"""A small HTTP/1.1 load generator for loopback benchmarks: raw sockets and threads.

Why not ``http.client`` or ``requests``: the load generator shares the two
cores with the server it measures, so every microsecond it spends per
request is taken from the server. Requests are pre-built byte strings; a
response is read only as far as its status line, headers and
``Content-Length`` body. Connections are kept alive when the server allows
it (gunicorn's sync worker does not: it answers ``Connection: close`` and
each request then pays for a new TCP connection, as a real sender would).

Two shapes of load:

- :func:`closed_loop` — N clients, each sending its next request as soon
  as the previous answer arrives: throughput at saturation.
- :func:`open_loop` — requests sent on a fixed schedule whatever the server
  does; latency is measured from the *scheduled* send time, so a stalled
  server shows up as latency instead of silently lowering the rate
  ("coordinated omission").

Both are bounded by a request count and a deadline.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

RECV_BYTES = 65536
SOCKET_TIMEOUT_S = 10.0


class ResponseError(Exception):
    """The server's answer could not be read as HTTP/1.1."""


@dataclass
class Outcome:
    """What one client thread saw: latencies (s) of answered requests and statuses."""

    latencies: list[float] = field(default_factory=list)
    service_times: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    finished_at: float = 0.0

    def merge(self, other: Outcome) -> None:
        """Add another thread's outcome to this one."""
        self.latencies.extend(other.latencies)
        self.service_times.extend(other.service_times)
        self.statuses.update(other.statuses)
        self.connections += other.connections
        self.finished_at = max(self.finished_at, other.finished_at)


@dataclass
class Run:
    """One bounded measurement: what the clients saw and how long it took."""

    outcome: Outcome
    elapsed_s: float


class Connection:
    """One client connection, reopened whenever the server closes it."""

    def __init__(self, host: str, port: int, outcome: Outcome) -> None:
        self.address = (host, port)
        self.sock: socket.socket | None = None
        self.outcome = outcome

    def _open(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=SOCKET_TIMEOUT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.outcome.connections += 1
        return sock

    def close(self) -> None:
        """Close the socket, if open."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, payload: bytes) -> int:
        """Send one request, return the response status; raises OSError/ResponseError."""
        reused = self.sock is not None
        try:
            return self._exchange(payload)
        except (ConnectionError, ResponseError):
            self.close()
            if not reused:
                raise
            # A kept-alive connection the server had already closed: retry once, fresh.
            return self._exchange(payload)

    def _exchange(self, payload: bytes) -> int:
        if self.sock is None:
            self.sock = self._open()
        sock = self.sock
        sock.sendall(payload)
        buffer = bytearray()
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            chunk = sock.recv(RECV_BYTES)
            if not chunk:
                raise ResponseError("connection closed before the response headers")
            buffer += chunk
        head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ResponseError(f"not an HTTP/1.x status line: {head[0][:60]!r}")
        status = int(parts[1])
        length: int | None = None
        close = parts[0] == "HTTP/1.0"
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
            elif name == "transfer-encoding":
                raise ResponseError("chunked responses are not supported by this client")
        received = len(buffer) - end - 4
        if length is None:
            close = True
            while sock.recv(RECV_BYTES):  # body runs to EOF
                pass
        else:
            while received < length:
                chunk = sock.recv(RECV_BYTES)
                if not chunk:
                    raise ResponseError("connection closed inside the response body")
                received += len(chunk)
        if close:
            self.close()
        return status


def _record(conn: Connection, payload: bytes) -> tuple[float, str]:
    """Send and classify: ('2xx' statuses as their number, errors by kind)."""
    try:
        status = conn.send(payload)
    except (OSError, ResponseError) as exc:
        conn.close()
        return time.perf_counter(), f"error:{type(exc).__name__}"
    return time.perf_counter(), str(status)


def _run_threads(count: int, target: Any) -> Outcome:
    outcomes = [Outcome() for _ in range(count)]
    threads = [threading.Thread(target=target, args=(k, outcomes[k]), daemon=True)
               for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Outcome()
    for outcome in outcomes:
        total.merge(outcome)
    return total


def closed_loop(host: str, port: int, requests: Sequence[bytes], *, clients: int,
                duration_s: float) -> Run:
    """Saturate the server with ``clients`` back-to-back senders for ``duration_s``."""
    counter = itertools.count()  # next() on a count is atomic under the GIL
    started: list[float] = []
    # The barrier's action runs once, before any client is released: a common start.
    start_gate = threading.Barrier(clients, action=lambda: started.append(time.perf_counter()))

    def client(_k: int, outcome: Outcome) -> None:
        conn = Connection(host, port, outcome)
        start_gate.wait()
        deadline = started[0] + duration_s
        try:
            while (i := next(counter)) < len(requests):
                sent = time.perf_counter()
                if sent >= deadline:
                    break
                done, status = _record(conn, requests[i])
                outcome.latencies.append(done - sent)
                outcome.statuses[status] += 1
        finally:
            outcome.finished_at = time.perf_counter()
            conn.close()

    outcome = _run_threads(clients, client)
    return Run(outcome, outcome.finished_at - started[0])


def open_loop(host: str, port: int, requests: Sequence[bytes], *, rate: float,
              duration_s: float, senders: int = 32) -> Run:
    """Send at a fixed ``rate`` for ``duration_s``; latency counts from the schedule."""
    total = min(len(requests), int(rate * duration_s))
    start = time.perf_counter() + 0.1

    def sender(k: int, outcome: Outcome) -> None:
        conn = Connection(host, port, outcome)
        try:
            for i in range(k, total, senders):
                scheduled = start + i / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sent = time.perf_counter()
                done, status = _record(conn, requests[i])
                outcome.latencies.append(done - scheduled)
                outcome.service_times.append(done - sent)
                outcome.statuses[status] += 1
        finally:
            outcome.finished_at = time.perf_counter()
            conn.close()

    outcome = _run_threads(senders, sender)
    return Run(outcome, outcome.finished_at - start)


def _percentile_ms(ordered: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of sorted seconds, in milliseconds."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without floats drifting
    return round(ordered[int(rank) - 1] * 1000, 3)


def summarize(runs: Sequence[Run]) -> dict[str, Any]:
    """Throughput, latency percentiles and status counts over one or more runs.

    Runs of the same target taken in turns with another target (to share out
    any drift in the machine's background load) add up: requests over the
    summed elapsed time, percentiles over all latencies.
    """
    outcome = Outcome()
    for run in runs:
        outcome.merge(run.outcome)
    elapsed_s = sum(run.elapsed_s for run in runs)
    ordered = sorted(outcome.latencies)
    ok = sum(n for status, n in outcome.statuses.items() if status.startswith("2"))
    sent = sum(outcome.statuses.values())
    summary = {
        "requests": sent,
        "ok": ok,
        "errors": sent - ok,
        "statuses": dict(sorted(outcome.statuses.items())),
        "elapsed_s": round(elapsed_s, 3),
        "throughput_rps": round(sent / elapsed_s, 1) if elapsed_s > 0 else None,
        "ok_rps": round(ok / elapsed_s, 1) if elapsed_s > 0 else None,
        "p50_ms": _percentile_ms(ordered, 50),
        "p90_ms": _percentile_ms(ordered, 90),
        "p99_ms": _percentile_ms(ordered, 99),
        "max_ms": round(ordered[-1] * 1000, 3) if ordered else None,
        "connections": outcome.connections,
    }
    if outcome.service_times:
        service = sorted(outcome.service_times)
        summary["service_p50_ms"] = _percentile_ms(service, 50)
        summary["service_p99_ms"] = _percentile_ms(service, 99)
    return summary
