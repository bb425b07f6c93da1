"""What both benchmarks share around the measurement: options, statistics, tables, verdicts.

A run's figures live in one dictionary, written to ``bench/results/<name>.json``
(gitignored) and printed as aligned tables.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import signal
import statistics
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _cpu import background_load

RESULTS = Path(__file__).resolve().parent / "results"
log = functools.partial(print, flush=True)  # progress, as it happens
# Other processes using more than this many cores during a phase make its
# figures pessimistic: such phases are flagged rather than silently reported.
BUSY_MACHINE_CORES = 0.25


def parser(doc: str, name: str) -> argparse.ArgumentParser:
    """The options every benchmark has; each adds its own."""
    found = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    found.add_argument("--quick", action="store_true", help="smoke run: not figures to quote")
    found.add_argument("--settle", type=float, default=20.0, help="wait up to this many seconds "
                       "for other load to calm down (default 20; --quick: 0)")
    found.add_argument("--json", type=Path, default=RESULTS / f"{name}.json", help="figures file")
    found.add_argument("--strict", action="store_true", help="exit 1 on a missed target too")
    return found


def begin(plan: dict[str, Any], targets: dict[str, Any]) -> dict[str, Any]:
    """The result dictionary's header; SIGTERM made to unwind like Ctrl-C (servers stopped)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": {"cpus": len(os.sched_getaffinity(0)),
                        "python": platform.python_version(), "platform": platform.platform(),
                        "background_cores_at_start": background_load(1.0)},
            "plan": plan, "targets": targets}


def finish(results: dict[str, Any], table: Callable[[dict[str, Any]], str], path: Path,
           strict: bool) -> int:
    """Write the JSON, print the table and problems; 1 on problems (or a missed target, strict)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\n{table(results)}\n\nwritten: {path} ({results.get('elapsed_s')} s)")
    for problem in results.get("problems", []):
        print(f"PROBLEM: {problem}", file=sys.stderr)
    missed = not all(row["met"] for row in results["verdicts"])
    return 1 if results.get("problems") or (strict and missed) else 0


def stats(values: Sequence[float], digits: int = 1) -> dict[str, Any]:
    """n, min, max and nearest-rank median, p90, p99 of the values (units as given)."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, "median": None, "p90": None, "p99": None, "min": None, "max": None}
    # ceil(n * pct / 100) in integers, so floats never move a rank.
    rank = {key: max(1, -(-len(ordered) * pct // 100)) for key, pct in
            (("median", 50), ("p90", 90), ("p99", 99), ("min", 0), ("max", 100))}
    return {"n": len(ordered), **{key: round(ordered[r - 1], digits) for key, r in rank.items()}}


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing."""
    return None if a is None or not b else round(a / b, 3)


def median_shift_ci(before: Sequence[float], after: Sequence[float], level: float = 0.90,
                    resamples: int = 2000) -> tuple[float, float] | None:
    """Seeded bootstrap interval of median(after) - median(before): when it reaches down to
    zero, the samples cannot tell the two apart on this machine."""
    if len(before) < 2 or len(after) < 2:
        return None
    rng, tail = random.Random(0), (1 - level) / 2
    shifts = sorted(statistics.median(rng.choices(after, k=len(after)))
                    - statistics.median(rng.choices(before, k=len(before))) for _ in range(resamples))
    return (round(shifts[int(tail * resamples)], 1),
            round(shifts[min(resamples - 1, int((1 - tail) * resamples))], 1))


def num(value: float | None, digits: int = 1) -> str:
    """A figure for a table cell ("n/a" when missing; no decimals from 100 up)."""
    return "n/a" if value is None else f"{value:.{digits if abs(value) < 100 else 0}f}"


def ci(interval: Sequence[float] | None) -> str:
    """A bootstrap interval in ms."""
    return "n/a" if interval is None else f"{interval[0]:+.0f}..{interval[1]:+.0f} ms"


def columns(rows: Sequence[Sequence[Any]]) -> list[str]:
    """Rows as aligned text: the first column left, the others right; the first row the header."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(map(len, column)) for column in zip(*cells, strict=True)]
    return ["  " + "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                             for i, cell in enumerate(row)).rstrip() for row in cells]


def verdict_lines(verdicts: list[dict[str, Any]], other_cores: list[str]) -> list[str]:
    """The targets, met or missed, and the phases during which others kept the machine busy."""
    return ["targets:", *(f"  {'MET   ' if row['met'] else 'MISSED'} {row['target']:<34} "
                          f"{row['where']:<20} {row['figure']}" for row in verdicts),
            *(f"  note: {note}: figures are pessimistic" for note in other_cores)]
