"""How busy the machine is while bench/govern.py measures, and how much of that is its own doing.

The benchmark shares two cores with whatever else runs (test suites, other
benchmarks). Such load stretches every latency, reghook's more than the
by-hand sequence's (reghook does more of its own work in Python), so the
timed phase carries the CPU it saw: all cores busy, and the part used by
neither this process nor the mlflow server ("other"). Read from /proc,
Linux only.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _machine() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user..steal; guest time is already counted in user
    return total - idle, total


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    return stat[stat.rindex(")") + 2:].split()


def _process_ticks(pid: int) -> int:
    """utime + stime of one process, in jiffies (0 once it is gone)."""
    fields = _stat_fields(pid)
    return int(fields[11]) + int(fields[12]) if fields else 0


def descendants(pid: int, limit: int = 256) -> list[int]:
    """``pid`` and every process below it (the mlflow server and its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo and len(found) < limit:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


@dataclass
class CpuWindow:
    """CPU used between :meth:`start` and :meth:`stop`: the machine's and ours."""

    pids: list[int]
    cpus: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))
    _start: tuple[float, int, int, int] = (0.0, 0, 0, 0)
    summary: dict[str, float] = field(default_factory=dict)

    def _now(self) -> tuple[float, int, int, int]:
        busy, total = _machine()
        ours = sum(_process_ticks(pid) for pid in [os.getpid(), *self.pids])
        return time.perf_counter(), busy, total, ours

    def start(self) -> None:
        """Open the window."""
        self._start = self._now()

    def stop(self) -> dict[str, float]:
        """Close it: average cores busy in all, and by other processes (never below zero)."""
        at, busy, total, ours = self._now()
        wall = at - self._start[0]
        if wall <= 0 or total <= self._start[2]:
            self.summary = {"busy_cores": 0.0, "other_cores": 0.0}
            return self.summary
        cores = (busy - self._start[1]) / (total - self._start[2]) * self.cpus
        own = (ours - self._start[3]) / TICKS / wall
        self.summary = {"busy_cores": round(cores, 2), "own_cores": round(own, 2),
                        "other_cores": round(max(cores - own, 0.0), 2)}
        return self.summary
