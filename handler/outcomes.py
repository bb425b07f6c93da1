"""Outcomes: what happened to a model version, as reported to people (docs/processing.md#notification-kinds).

The governance use cases produce :class:`Outcome` values; the outbox stores
them and the channels render them. Plain values, no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from handler.verdict import GateResult

OUTCOME_KINDS = ("registered", "rejected", "promoted", "guard_reverted", "rolled_back",
                 "failed", "approval_refused", "approval_rejected", "alias_alert",
                 "transition_approved", "transition_rejected", "stage_transitioned",
                 "job_failed", "deprecated")


@dataclass(frozen=True)
class AliasChange:
    """An alias set, moved or removed: ``from_version`` None means newly set."""

    alias: str
    to_version: str | None
    from_version: str | None = None


@dataclass(frozen=True)
class Outcome:
    """One notification-worthy result about one model version."""

    kind: str
    model: str
    version: str | None
    event_id: str
    run_id: str | None = None
    run_url: str | None = None
    gates: tuple[GateResult, ...] = ()
    alias_changes: tuple[AliasChange, ...] = ()
    actor: str = "reghook"
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        """(model, version, outcome): a channel posts each of these once.

        A run rejected before registration has no version: its run id stands in.
        """
        subject = self.version or f"run:{self.run_id or self.event_id}"
        # Stage decisions of one version (Staging, then Production) are distinct news.
        stage = self.extra.get("to_stage")
        kind = f"{self.kind}:{stage}" if stage else self.kind
        return f"{self.model}\x1f{subject}\x1f{kind}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``webhook`` and ``log`` channels send this)."""
        data = asdict(self)
        data["gates"] = [g.to_json() for g in self.gates]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        """Rebuild an outcome stored in the outbox."""
        return cls(
            kind=data["kind"], model=data["model"], version=data.get("version"),
            event_id=data["event_id"], run_id=data.get("run_id"), run_url=data.get("run_url"),
            gates=tuple(GateResult(**g) for g in data.get("gates", [])),
            alias_changes=tuple(AliasChange(**a) for a in data.get("alias_changes", [])),
            actor=data.get("actor", "reghook"), reason=data.get("reason"),
            extra=data.get("extra") or {},
        )
