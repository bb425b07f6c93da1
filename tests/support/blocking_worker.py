"""``reghook worker`` whose registry hangs in ``get_run``, as a call stuck in network retries would.

Fault injection from outside the product, like ``crashing_worker``: the
shutdown tests run this module in a child process and signal it while it
holds an event. The registry is the fake one (``tests/fakes.py``) holding
one finished run, behind a proxy that writes ``MARKER`` and then sleeps in
``get_run`` — a plain sleep, which no stop event can end: only the signal
path of :mod:`handler.worker.shutdown` frees the event at once.

Usage: ``python -m tests.support.blocking_worker MARKER`` with the usual REGHOOK_* environment.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from handler.bootstrap import run_worker
from handler.settings import Settings
from tests.fakes import FakeRegistry

RUN_ID = "run-blocked"
# The policy the tests give this worker and the one that finishes its event.
POLICY = ("models:\n  - name: churn\n    experiment: /Shared/exp-1\n    artifact_path: model\n"
          "    register: always\n")


def registry_with_run() -> FakeRegistry:
    """The fake registry with the one run the queued event is about."""
    registry = FakeRegistry()
    registry.add_run(RUN_ID, metrics={"recall": 0.9})
    return registry


class HangInGetRun:
    """Forwards everything to ``target``; ``get_run`` announces itself in ``marker`` and hangs."""

    def __init__(self, target: Any, marker: Path) -> None:
        self._target, self._marker = target, marker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def get_run(self, run_id: str) -> Any:
        self._marker.write_text(run_id)
        time.sleep(600)
        return self._target.get_run(run_id)


if __name__ == "__main__":
    run_worker(Settings(), once=False, registry=HangInGetRun(registry_with_run(), Path(sys.argv[1])))
