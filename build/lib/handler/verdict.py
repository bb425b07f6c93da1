"""Gate results and verdicts: what validation concluded, as plain values (docs/policy.md#gate-results)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome: observed vs. expected, and why."""

    gate: str
    passed: bool
    observed: Any
    expected: Any
    detail: str = ""

    def summary(self) -> str:
        """One clause of the ``reghook.gates`` tag, e.g. ``recall 0.81>=0.70 ok``."""
        mark = "ok" if self.passed else "FAIL"
        if isinstance(self.observed, float) and isinstance(self.expected, str):
            return f"{self.gate} {self.observed:.4g}{self.expected} {mark}"
        if self.detail:
            return f"{self.gate} {mark} ({self.detail})"
        return f"{self.gate} {mark}"

    def to_json(self) -> dict[str, Any]:
        """As stored in the audit trail and sent in notifications."""
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """All gates of a policy applied to one run / version."""

    gates: tuple[GateResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """True only if every gate passed (no gates: passed)."""
        return all(g.passed for g in self.gates)

    @property
    def status(self) -> str:
        """``passed`` or ``failed``: the ``reghook.status`` tag value."""
        return "passed" if self.passed else "failed"

    @property
    def failed_gates(self) -> list[GateResult]:
        """The gates that failed."""
        return [g for g in self.gates if not g.passed]

    def summary(self, limit: int = 4500) -> str:
        """The one-line ``reghook.gates`` tag value (MLflow tag values are bounded)."""
        text = "; ".join(g.summary() for g in self.gates) or "no gates"
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def to_json(self) -> list[dict[str, Any]]:
        """Every gate as JSON."""
        return [g.to_json() for g in self.gates]
