"""bench/scale.py's CPU split and PostgreSQL activity: who used the cores while a batch ran.

:class:`CpuSplit` reads /proc at the start and the end of a phase, per process,
for named groups of processes (the MLflow server, reghook's workers, its web
app, PostgreSQL's backends, the benchmark's clients); ``other`` is what the
machine was busy with beyond them. Each group's run-queue wait (schedstat) says
how long its threads were ready to run but found no free CPU. :class:`PgActivity` samples
``pg_stat_activity`` for the benchmark's database, to see whether backends
wait on each other (locks) or on the disk while the workers claim and finish.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _cpu import TICKS, _machine, _ticks

PidLister = Callable[[], list[int]]


def _runq_ns(pid: int) -> dict[int, int]:
    """Per thread of ``pid``: nanoseconds spent runnable but waiting for a CPU
    (/proc/<pid>/task/<tid>/schedstat, second field); {} once it is gone."""
    waits = {}
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, IndexError, ValueError):
                waits[int(task.name)] = int((task / "schedstat").read_text().split()[1])
    return waits


class CpuSplit:
    """CPU-seconds per group of processes over one measured interval, the machine's busy time,
    and how long each group's threads waited for a CPU (the run queue: contention)."""

    def __init__(self, groups: dict[str, PidLister]) -> None:
        self.groups = groups
        self.cores: dict[str, float] = {}
        self.waiting: dict[str, float] = {}  # threads waiting for a CPU, on average

    def _snapshot(self, pids: list[int]) -> tuple[dict[int, int], dict[int, int]]:
        return ({pid: _ticks([pid]) for pid in pids},
                {tid: ns for pid in pids for tid, ns in _runq_ns(pid).items()})

    @contextmanager
    def measure(self) -> Iterator[None]:
        """Count each group's CPU while the ``with`` block runs (processes started inside it
        count from zero; a process that ends inside it loses what it used)."""
        before = {name: self._snapshot(pids()) for name, pids in self.groups.items()}
        started, (busy, total) = time.perf_counter(), _machine()
        yield
        wall, (busy2, total2) = time.perf_counter() - started, _machine()
        used: dict[str, float] = {}
        for name, pids in self.groups.items():
            ticks, waits = self._snapshot(list(set(pids()) | set(before[name][0])))
            used[name] = sum(max(0, t - before[name][0].get(pid, 0))
                             for pid, t in ticks.items() if t) / TICKS
            waited = sum(max(0, ns - before[name][1].get(tid, 0)) for tid, ns in waits.items())
            self.waiting[name] = round(waited / 1e9 / wall, 2)
        cpus = len(os.sched_getaffinity(0))
        busy_s = (busy2 - busy) / max(total2 - total, 1) * cpus * wall
        self.cores = {name: round(s / wall, 2) for name, s in used.items()}
        self.cores["other"] = round(max(busy_s - sum(used.values()), 0.0) / wall, 2)
        self.cores["busy"] = round(busy_s / wall, 2)


class PgActivity:
    """``pg_stat_activity`` of one database sampled every ``every_s`` in a thread: how many of
    its backends were active, and what the active ones waited on (Lock, LWLock, IO, ...)."""

    def __init__(self, admin_url: str, database: str, every_s: float = 0.2) -> None:
        self.admin_url, self.database, self.every_s = admin_url, database, every_s
        self.samples = 0
        self.active: Counter[str] = Counter()
        self._stop = threading.Event()

    @contextmanager
    def sampling(self) -> Iterator[PgActivity]:
        """Sample while the ``with`` block runs."""
        import psycopg

        self.samples, self.active = 0, Counter()
        self._stop.clear()
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as admin:
            thread = threading.Thread(target=self._loop, args=(admin,), daemon=True)
            thread.start()
            try:
                yield self
            finally:
                self._stop.set()
                thread.join(timeout=5)

    def _loop(self, admin: Any) -> None:
        query = ("SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU') FROM "
                 "pg_stat_activity WHERE datname = %s AND state = 'active' "
                 "AND pid <> pg_backend_pid()")
        while not self._stop.wait(self.every_s):
            rows = admin.execute(query, (self.database,)).fetchall()
            self.samples += 1
            self.active.update(str(row[0]) for row in rows)

    def summary(self) -> dict[str, Any]:
        """Average active backends, and per wait (or ``on CPU``) the average backends in it."""
        n = max(self.samples, 1)
        return {"samples": self.samples,
                "active_backends": round(sum(self.active.values()) / n, 2),
                "by_wait": {k: round(v / n, 2) for k, v in self.active.most_common(6)}}
