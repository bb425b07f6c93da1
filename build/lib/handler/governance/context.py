"""The small context every use case runs in: ports, policies, clock and time budgets.

Built once per worker by the composition root (:mod:`handler.bootstrap`);
tests build it from fakes (``tests/fakes.py``). It holds values, not
behaviour: the use cases are plain functions in the feature modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from handler.gates import ModelFacts
from handler.governance.ports import Ledger, Registry, Workspace
from handler.policy import ModelPolicy, PolicyFile


def utc_now() -> datetime:
    """The wall clock, timezone-aware."""
    return datetime.now(UTC)


@dataclass
class Context:
    """What a use case may touch: the registry, the ledger, the policies, the clock, the budget."""

    registry: Registry
    ledger: Ledger
    policies: PolicyFile
    owner: str
    lease_s: float = 300.0
    ready_timeout_s: float = 300.0
    clock: Callable[[], datetime] = utc_now
    # Databricks is configured only where its events arrive: built on first use.
    workspace: Workspace | None = None
    workspace_factory: Callable[[], Workspace] | None = None
    # Versions never change their run: champion facts are cached per (model, version).
    champion_facts: dict[tuple[str, str], ModelFacts] = field(default_factory=dict)

    @property
    def ready_wait_s(self) -> float:
        """How long one attempt may wait for a pending version: never more than half the lease,
        so a slow registry is retried later rather than held past the claim."""
        return min(self.ready_timeout_s, self.lease_s / 2)

    def databricks(self) -> Workspace:
        """The Databricks workspace, built on first use."""
        if self.workspace is None:
            if self.workspace_factory is None:
                from handler.errors import PermanentError

                raise PermanentError("no Databricks workspace is configured for this worker")
            self.workspace = self.workspace_factory()
        return self.workspace

    def now_iso(self) -> str:
        """Now, ISO 8601 UTC to the second, as ``reghook.validated_at`` stores it."""
        return self.clock().astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    def policy(self, model: str) -> ModelPolicy | None:
        """The policy governing ``model`` (None: reghook leaves it alone)."""
        return self.policies.for_model(model)
