"""``reghook worker --once`` that SIGKILLs itself at a step boundary, as an OOM kill would.

Fault injection from outside the product: the crash tests run this module
in a child process; it builds the worker through the composition root with
the registry and the ledger wrapped, so the product carries no crash switch.

Steps (the boundary after which the process dies):
- ``registered``: the version was created, nothing else written;
- ``tagged``: the tags were written; killed as the first alias is set;
- ``aliased``: tags and aliases written; killed as the records are written.

Usage: ``python -m tests.support.crashing_worker STEP`` with the usual REGHOOK_* environment.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from handler.bootstrap import build_registry, build_store, build_worker
from handler.settings import Settings

# step -> (which object, which method, die before or after the call)
KILL_POINTS = {
    "registered": ("registry", "create_version", "after"),
    "tagged": ("registry", "set_alias", "before"),
    "aliased": ("ledger", "record", "before"),
}


class KillAt:
    """A proxy that forwards everything to ``target`` and SIGKILLs this process at one call."""

    def __init__(self, target: Any, method: str, when: str) -> None:
        self._target, self._method, self._when = target, method, when

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name != self._method:
            return value

        def killing(*args: Any, **kwargs: Any) -> Any:
            if self._when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            result = value(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)
            return result

        return killing


def main(step: str) -> None:
    """Process the queue once with the fault installed at ``step``."""
    target, method, when = KILL_POINTS[step]
    settings = Settings()
    store, registry = build_store(settings), build_registry(settings)
    if target == "registry":
        runtime = build_worker(settings, store, registry=KillAt(registry, method, when))
    else:
        runtime = build_worker(settings, store, registry=registry)
        assert runtime.context is not None
        runtime.context.ledger = KillAt(store, method, when)
    runtime.drain()


if __name__ == "__main__":
    main(sys.argv[1])
