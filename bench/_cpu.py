"""CPU seen while a benchmark measures: all cores busy, the client's share (this process),
the server's (the processes under test) and the rest ("other": load the benchmark does
not control, which lowers throughput and stretches latency). Read from /proc: Linux only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _machine() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields[:8]) - fields[3] - fields[4], sum(fields[:8])  # idle, iowait; to steal


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces); [] once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat[stat.rindex(")") + 2:].split()


def _ticks(pids: list[int]) -> int:
    """utime + stime of these processes, in jiffies."""
    return sum(int(f[11]) + int(f[12]) for f in map(_stat, pids) if f)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (a server's workers), parents first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found = [pid]
    for current in found:  # grows while it is walked: breadth first
        found += sorted(children.get(current, []))
    return found


def rss_kb(pid: int) -> int | None:
    """VmRSS of a process in KiB, None if it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    return next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), None)


class CpuMeter:
    """Busy, client and server CPU summed over the intervals it measures."""

    def __init__(self, server_pids: Callable[[], list[int]] = list) -> None:
        self.server_pids = server_pids  # looked up at each interval: workers come and go
        self.busy_s = self.client_s = self.server_s = self.wall_s = 0.0

    @contextmanager
    def measure(self) -> Iterator[None]:
        """Count the CPU used while the ``with`` block runs."""
        pids, me = self.server_pids(), [os.getpid()]
        at, (busy, total), client, server = time.perf_counter(), _machine(), _ticks(me), _ticks(pids)
        yield
        wall, (busy2, total2) = time.perf_counter() - at, _machine()
        if wall > 0 and total2 > total:
            # Jiffies over all CPUs → cores busy on average → CPU-seconds in this interval.
            self.busy_s += (busy2 - busy) / (total2 - total) * len(os.sched_getaffinity(0)) * wall
            self.client_s += (_ticks(me) - client) / TICKS
            self.server_s += (_ticks(pids) - server) / TICKS
            self.wall_s += wall

    def summary(self) -> dict[str, float]:
        """Average cores busy: all, client, server, other (never below zero: coarse ticks)."""
        wall = self.wall_s or float("inf")
        busy, client, server = self.busy_s / wall, self.client_s / wall, self.server_s / wall
        return {"busy_cores": round(busy, 2), "client_cores": round(client, 2),
                "server_cores": round(server, 2),
                "other_cores": round(max(busy - client - server, 0.0), 2),
                "client_cpu_s": round(self.client_s, 3), "server_cpu_s": round(self.server_s, 3)}


def background_load(seconds: float = 1.0) -> float:
    """Cores busy on average over ``seconds`` while the benchmark itself is idle."""
    meter = CpuMeter()
    with meter.measure():
        time.sleep(seconds)
    return meter.summary()["busy_cores"]


def wait_for_quiet(max_s: float, threshold_cores: float) -> float:
    """Wait (at most ``max_s``) until other load falls under ``threshold_cores``; return it."""
    deadline = time.perf_counter() + max_s
    while (busy := background_load(0.5)) > threshold_cores and time.perf_counter() < deadline:
        pass
    return busy
