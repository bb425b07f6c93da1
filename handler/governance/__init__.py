"""The governance use cases: govern runs and versions, guard aliases, promote, roll back.

:class:`Governor` is the one object the worker and the CLI call; it knows
nothing about HTTP or SQL, only the registry and ledger ports.
"""

from __future__ import annotations

from handler.governance.core import Result
from handler.governance.lifecycle import LifecycleError
from handler.governance.registry_events import RegistryEvents
from handler.governance.runs import RunGovernance


class Governor(RunGovernance, RegistryEvents):
    """Every governance use case over one registry, one ledger and one policy file."""


__all__ = ["Governor", "LifecycleError", "Result"]
