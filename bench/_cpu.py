"""How busy the machine is, and how much of that is the benchmark's own doing.

The benchmark shares two cores with whatever else runs on the machine (a
test suite, an mlflow server). Such load lowers throughput and stretches
tail latency in ways no figure would show, so every measurement carries
the CPU it saw: all cores busy, the part used by the benchmark's own
processes (this one and the gunicorn under test), and the rest ("other").
Read from /proc, Linux only.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _machine() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user..steal; guest time is already counted in user
    return total - idle, total


def _process_ticks(pid: int) -> int:
    """utime + stime of one process, in jiffies (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


@dataclass
class Snapshot:
    """CPU counters at one instant."""

    at: float
    busy: int
    total: int
    client: int
    server: int


class CpuMeter:
    """Accumulates busy and own CPU over the intervals it is told to measure."""

    def __init__(self) -> None:
        self.cpus = len(os.sched_getaffinity(0))
        self.busy_s = 0.0
        self.client_s = 0.0
        self.server_s = 0.0
        self.wall_s = 0.0

    @staticmethod
    def snapshot(pids: list[int]) -> Snapshot:
        """Counters now: the machine, this process (the client) and ``pids`` (the server)."""
        busy, total = _machine()
        server = sum(_process_ticks(pid) for pid in pids)
        return Snapshot(time.perf_counter(), busy, total, _process_ticks(os.getpid()), server)

    def add(self, before: Snapshot, after: Snapshot) -> None:
        """Count the interval between two snapshots."""
        wall = after.at - before.at
        total = after.total - before.total
        if wall <= 0 or total <= 0:
            return
        # Jiffies over all CPUs → cores busy on average → CPU-seconds in this interval.
        self.busy_s += (after.busy - before.busy) / total * self.cpus * wall
        self.client_s += (after.client - before.client) / TICKS
        self.server_s += (after.server - before.server) / TICKS
        self.wall_s += wall

    def summary(self) -> dict[str, float]:
        """Average cores busy: all, client, server, other (never below zero: coarse ticks)."""
        if self.wall_s <= 0:
            return {"busy_cores": 0.0, "client_cores": 0.0, "server_cores": 0.0,
                    "other_cores": 0.0, "client_cpu_s": 0.0, "server_cpu_s": 0.0}
        busy = self.busy_s / self.wall_s
        client, server = self.client_s / self.wall_s, self.server_s / self.wall_s
        return {"busy_cores": round(busy, 2), "client_cores": round(client, 2),
                "server_cores": round(server, 2),
                "other_cores": round(max(busy - client - server, 0.0), 2),
                "client_cpu_s": round(self.client_s, 3), "server_cpu_s": round(self.server_s, 3)}


def background_load(seconds: float = 1.0) -> float:
    """Cores busy on average over ``seconds`` while the benchmark itself is idle."""
    meter = CpuMeter()
    before = meter.snapshot([])
    time.sleep(seconds)
    meter.add(before, meter.snapshot([]))
    return meter.summary()["busy_cores"]


def wait_for_quiet(max_s: float, threshold_cores: float) -> float:
    """Wait (at most ``max_s``) until other load falls under ``threshold_cores``; return it."""
    deadline = time.perf_counter() + max_s
    busy = background_load(0.5)
    while busy > threshold_cores and time.perf_counter() < deadline:
        busy = background_load(0.5)
    return busy
