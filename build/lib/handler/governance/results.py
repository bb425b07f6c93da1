"""How a use case ends an event: ``done`` or ``ignored``, with the reason stored beside it."""

from __future__ import annotations

from dataclasses import dataclass


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


def combine(results: list[Result], when_empty: str) -> Result:
    """Several results as one: done if any was done; every reason kept (bounded)."""
    if not results:
        return ignored(when_empty)
    reason = "; ".join(r.reason or r.status for r in results)[:2000]
    return done(reason) if any(r.status == "done" for r in results) else ignored(reason)
