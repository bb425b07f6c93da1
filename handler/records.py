"""Records reghook keeps about its decisions: audit entries and alias moves (docs/admin-api.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AUDIT_KINDS = ("registered", "validated", "tagged", "alias_set", "alias_removed",
               "guard_reverted", "promoted", "rolled_back", "notified", "skipped",
               "rejected", "approval_refused", "alias_alert", "transition_approved",
               "transition_rejected", "recorded", "failed", "deprecated")


@dataclass(frozen=True)
class AuditEntry:
    """One decision or registry write: who did what to which version, caused by which event."""

    kind: str
    model: str | None
    version: str | None
    event_id: str | None
    actor: str = "reghook"
    alias: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AliasMove:
    """An alias now on ``version`` (None: removed), previously on ``previous_version``."""

    model: str
    alias: str
    version: str | None
    previous_version: str | None
    actor: str
    event_id: str | None
    reason: str | None = None
