"""Shared machinery of the governance use cases: dependencies, writes, records.

Every registry write goes through :meth:`GovernorBase.write_tag` /
:meth:`write_alias` / :meth:`remove_alias`, which first note the write in
the ledger (so MLflow's echo of it is recognised) and skip writes that
would change nothing (so replays converge without new echoes).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handler.gates import ModelFacts, needs_champion
from handler.governance.ports import Ledger, Registry
from handler.outcomes import Outcome
from handler.policy import ModelPolicy, PolicyFile
from handler.records import AliasMove, AuditEntry
from handler.settings import Settings

STATUS_TAG = "reghook.status"
GATES_TAG = "reghook.gates"
EVENT_TAG = "reghook.event_id"
RUN_TAG = "reghook.run_id"
VALIDATED_TAG = "reghook.validated_at"
ROLLBACK_FROM_TAG = "reghook.rollback_from"


@dataclass(frozen=True)
class Result:
    """How an event ended: ``done`` or ``ignored`` (with the reason)."""

    status: str
    reason: str | None = None


def done(reason: str | None = None) -> Result:
    """The event was acted on."""
    return Result("done", reason)


def ignored(reason: str) -> Result:
    """The event needs nothing from reghook (the reason is stored)."""
    return Result("ignored", reason)


class GovernorBase:
    """Dependencies and write helpers shared by every use case."""

    def __init__(self, registry: Registry, ledger: Ledger, policies: PolicyFile,
                 settings: Settings, owner: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.registry = registry
        self.ledger = ledger
        self.policies = policies
        self.settings = settings
        self.owner = owner
        self.clock = clock
        # Versions never change their run: champion facts are cached per version.
        self._version_facts: dict[tuple[str, str], tuple[ModelFacts, str | None]] = {}

    # --- facts --------------------------------------------------------------------

    def crashpoint(self, step: str) -> None:
        """Test-only fault injection: die here like a killed worker would."""
        if self.settings.crash_at == step:
            os.kill(os.getpid(), signal.SIGKILL)

    def champion_facts(self, policy: ModelPolicy, exclude_version: str | None = None
                       ) -> ModelFacts | None:
        """Facts about the version holding the compared alias (None: no champion)."""
        alias = needs_champion(policy.gates)
        if alias is None:
            return None
        holder = self.registry.version_by_alias(policy.name, alias)
        if holder is None or not holder.run_id:
            return None
        key = (policy.name, holder.version)
        if key not in self._version_facts:
            run = self.registry.get_run(holder.run_id)
            facts = self.registry.facts(run, holder.source, holder.version,
                                        with_signature=policy.gates.signature == "match_champion")
            self._version_facts[key] = (facts, holder.source)
        return self._version_facts[key][0]

    def wants_signature(self, policy: ModelPolicy, champion: ModelFacts | None) -> bool:
        """Read the candidate's signature only when a champion's is there to compare."""
        return policy.gates.signature == "match_champion" and champion is not None

    def now_iso(self) -> str:
        """Now, ISO 8601 UTC, as ``reghook.validated_at`` stores it."""
        return self.clock().astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    def run_url(self, run: Any) -> str:
        """The run's MLflow UI link."""
        return self.registry.run_url(run.experiment_id, run.run_id)

    # --- writes -------------------------------------------------------------------

    def write_tags(self, model: str, version: str, current: dict[str, str],
                   desired: dict[str, str], event_id: str) -> dict[str, str]:
        """Set the tags whose value differs; return what was written."""
        changed = {k: v for k, v in desired.items() if current.get(k) != v}
        for key, value in changed.items():
            self.ledger.note_own_write(model, version, "tag", key, value, event_id)
            self.registry.set_tag(model, version, key, value)
        return changed

    def write_alias(self, model: str, alias: str, version: str, event_id: str,
                    previous: str | None, reason: str | None = None) -> AliasMove:
        """Point an alias at a version (noting the write for echo recognition)."""
        self.ledger.note_own_write(model, version, "alias_set", alias, version, event_id)
        self.registry.set_alias(model, alias, version)
        return AliasMove(model, alias, version, previous, "reghook", event_id, reason)

    def remove_alias(self, model: str, alias: str, event_id: str, previous: str | None,
                     reason: str | None = None) -> AliasMove:
        """Delete an alias (noting the write for echo recognition)."""
        self.ledger.note_own_write(model, None, "alias_deleted", alias, None, event_id)
        self.registry.delete_alias(model, alias)
        return AliasMove(model, alias, None, previous, "reghook", event_id, reason)

    def last_holder(self, model: str, alias: str) -> str | None:
        """Who held an alias last, by the alias history (no registry call)."""
        moves = self.ledger.alias_moves(model, alias)
        return moves[-1]["version"] if moves else None

    def record(self, policy: ModelPolicy | None, entries: list[AuditEntry],
               moves: list[AliasMove] | tuple[AliasMove, ...] = (),
               outcome: Outcome | None = None) -> None:
        """Audit entries, alias moves and notifications, in one transaction."""
        outcomes: list[tuple[str, Outcome]] = []
        if outcome is not None:
            channels = (self.policies.channels_for(policy) if policy is not None
                        else list(self.policies.effective_channels))
            outcomes = [(channel, outcome) for channel in channels]
        self.ledger.record(entries, moves, outcomes)
