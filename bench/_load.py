"""A small HTTP/1.1 load generator over raw sockets and threads, for loopback benchmarks.

It shares the cores with the server it measures, so it does as little as it
can per request: pre-built requests, answers read only as far as the status,
headers and ``Content-Length`` body, one TCP connection per request (as most
webhook senders do), closed by the client once the answer is read.
"""

from __future__ import annotations

import itertools
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from _report import stats


class ResponseError(Exception):
    """The server's answer could not be read as HTTP/1.1."""


@dataclass
class Run:
    """What the clients of one bounded measurement saw: latencies (s), statuses, time taken."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0


def send(address: tuple[str, int], payload: bytes) -> str:
    """One request on a fresh connection: its status, or ``error:<kind>`` when it failed."""
    try:
        with socket.create_connection(address, timeout=10.0) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(payload)
            buffer = bytearray()
            while (end := buffer.find(b"\r\n\r\n")) < 0:
                if not (chunk := sock.recv(65536)):
                    raise ResponseError("connection closed before the response headers")
                buffer += chunk
            head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
            if not re.match(r"HTTP/1\.[01] \d{3}", head[0]):
                raise ResponseError(f"not an HTTP/1.x status line: {head[0][:60]!r}")
            length = next((int(line.split(":", 1)[1]) for line in head[1:]
                           if line.lower().startswith("content-length:")), None)
            if head[0][9:12] in ("204", "304") or head[0][9] == "1":
                # No body by definition (RFC 9110 6.4.1), so no Content-Length either:
                # reading to EOF would wait out the server's keep-alive (gthread keeps it).
                length = 0
            received = len(buffer) - end - 4
            # Read the whole answer, as a real sender would, up to its length or EOF.
            while (length is None or received < length) and (chunk := sock.recv(65536)):
                received += len(chunk)
            if length is not None and received < length:
                raise ResponseError("connection closed inside the response body")
            return head[0][9:12]
    except (OSError, ResponseError) as exc:
        return f"error:{type(exc).__name__}"


def _threads(count: int, body: Callable[[int, Run], None]) -> Run:
    runs = [Run() for _ in range(count)]  # one each: Counter updates are not atomic
    threads = [threading.Thread(target=body, args=(k, runs[k]), daemon=True) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Run([s for run in runs for s in run.latencies], sum((r.statuses for r in runs), Counter()))


def closed_loop(address: tuple[str, int], requests: Sequence[bytes], *, clients: int,
                duration_s: float) -> Run:
    """``clients`` senders, each sending its next request when the previous answer arrives
    (throughput at saturation), bounded by time and by the requests given."""
    counter = itertools.count()  # next() on a count is atomic under the GIL
    started: list[float] = []
    # The barrier's action runs once, before any client is released: a common start.
    gate = threading.Barrier(clients, action=lambda: started.append(time.perf_counter()))

    def client(_k: int, run: Run) -> None:
        gate.wait()
        deadline = started[0] + duration_s
        while (i := next(counter)) < len(requests) and (sent := time.perf_counter()) < deadline:
            status = send(address, requests[i])
            run.latencies.append(time.perf_counter() - sent)
            run.statuses[status] += 1

    run = _threads(clients, client)
    run.elapsed_s = time.perf_counter() - started[0]
    return run


def open_loop(address: tuple[str, int], requests: Sequence[bytes], *, rate: float,
              duration_s: float, senders: int = 32) -> Run:
    """Send at a fixed ``rate`` whatever the server does; latency counts from each request's
    *scheduled* send time, so a stalled server shows as latency (no coordinated omission)."""
    total = min(len(requests), int(rate * duration_s))
    start = time.perf_counter() + 0.1

    def sender(k: int, run: Run) -> None:
        for i in range(k, total, senders):
            scheduled = start + i / rate
            if (delay := scheduled - time.perf_counter()) > 0:
                time.sleep(delay)
            status = send(address, requests[i])
            run.latencies.append(time.perf_counter() - scheduled)
            run.statuses[status] += 1

    run = _threads(senders, sender)
    run.elapsed_s = time.perf_counter() - start
    return run


def summarize(runs: Sequence[Run]) -> dict[str, Any]:
    """Throughput, latency (ms) and statuses over the slices of one phase, added up."""
    statuses: Counter[str] = sum((run.statuses for run in runs), Counter())
    elapsed = sum(run.elapsed_s for run in runs)
    ok = sum(n for status, n in statuses.items() if status.startswith("2"))
    latency = stats([s * 1000 for run in runs for s in run.latencies], 3)
    return {"requests": sum(statuses.values()), "ok": ok, "statuses": dict(sorted(statuses.items())),
            "elapsed_s": round(elapsed, 3), "ok_rps": round(ok / elapsed, 1) if elapsed else None,
            "p50_ms": latency["median"], "p99_ms": latency["p99"], "max_ms": latency["max"]}
