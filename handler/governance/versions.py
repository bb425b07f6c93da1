"""Govern a registered version: validate it, then bring its tags and aliases to what the policy says.

:func:`converge` is idempotent: it computes the desired tags and aliases
from the verdict and writes only differences, so a replay, a re-send or a
retry after a crash ends in the same registry state and adds no echo.
Notifications are keyed by (channel, model, version, outcome) in the
outbox, so a second pass sends nothing new.
"""

from __future__ import annotations

from typing import Any

from handler.errors import PermanentError, TransientError
from handler.gates import ModelFacts
from handler.governance.context import Context
from handler.governance.ports import RunInfo, VersionInfo
from handler.governance.reads import side_reads
from handler.governance.results import Result, done, ignored
from handler.governance.tags import (
    EVENT_TAG,
    RETIRED_STATUSES,
    RUN_TAG,
    STATUS_TAG,
    governance_tags,
)
from handler.governance.validation import champion_facts, validate, validate_against
from handler.governance.writes import record, write_alias, write_tags
from handler.outcomes import AliasChange, Outcome
from handler.policy import ModelPolicy
from handler.records import AliasMove, AuditEntry
from handler.verdict import Verdict


def converge(ctx: Context, event_id: str, policy: ModelPolicy, run: RunInfo, version: VersionInfo,
             verdict: Verdict | None = None, *, registered_now: bool = False,
             written: dict[str, str] | None = None) -> Result:
    """Validate (unless given a verdict), write missing tags and aliases, record, notify."""
    version = ctx.registry.wait_ready(version, ctx.ready_wait_s)
    if verdict is None:
        verdict = validate(ctx, policy, run, version.source, version.version)
    desired = governance_tags(policy, verdict, event_id, run.run_id, ctx.now_iso(), version.tags)
    tags_written = dict(written or {})
    tags_written.update(write_tags(ctx, policy.name, version.version, version.tags, desired,
                                   event_id))
    moves: list[AliasMove] = []
    if desired[STATUS_TAG] not in RETIRED_STATUSES:
        moves = converge_aliases(ctx, event_id, policy, version, verdict.passed)
    entries = [AuditEntry("validated", policy.name, version.version, event_id,
                          detail={"status": verdict.status, "gates": verdict.to_json(),
                                  **compared_facts(run, verdict)})]
    if registered_now:
        entries.insert(0, AuditEntry("registered", policy.name, version.version, event_id,
                                     detail={"run_id": run.run_id, "source": version.source}))
    if tags_written:
        entries.append(AuditEntry("tagged", policy.name, version.version, event_id,
                                  detail={"tags": tags_written}))
    entries += [AuditEntry("alias_set", m.model, m.version, event_id, alias=m.alias,
                           detail={"previous_version": m.previous_version, "reason": m.reason})
                for m in moves]
    outcome = Outcome(
        kind="registered" if verdict.passed else "rejected", model=policy.name,
        version=version.version, event_id=event_id, run_id=run.run_id,
        run_url=ctx.registry.run_url(run.experiment_id, run.run_id), gates=verdict.gates,
        alias_changes=tuple(AliasChange(m.alias, m.version, m.previous_version) for m in moves))
    record(ctx, policy, entries, moves, outcome)
    return done(f"v{version.version} {verdict.status}")


def converge_against(ctx: Context, event_id: str, policy: ModelPolicy, run: RunInfo,
                     version: VersionInfo, champion: ModelFacts | None, *,
                     registered_now: bool = False) -> Result:
    """:func:`converge` a version registered before, its gates judged against champion facts
    already read (beside the other reads: the champion is not read a second time)."""
    version = ctx.registry.wait_ready(version, ctx.ready_wait_s)
    verdict = validate_against(ctx, policy, run, version.source, version.version, champion)
    return converge(ctx, event_id, policy, run, version, verdict, registered_now=registered_now)


def compared_facts(run: RunInfo, verdict: Verdict) -> dict[str, Any]:
    """What the version comparison shows beside the gates (docs/console.md), kept with the verdict.

    The console and ``reghook compare`` read only the event store, so the
    run's facts are recorded when they are at hand. The signature is the one
    the signature gate read (None when no gate read it: no extra registry call).
    """
    signature = next((g.observed for g in verdict.gates
                      if g.gate == "signature" and isinstance(g.observed, dict)), None)
    return {"run_id": run.run_id, "author": run.tags.get("mlflow.user"),
            "metrics": dict(run.metrics), "signature": signature,
            "datasets": [{"name": d.name, "source": d.source, "schema": d.schema}
                         for d in run.datasets]}


def converge_aliases(ctx: Context, event_id: str, policy: ModelPolicy, version: VersionInfo,
                     passed: bool) -> list[AliasMove]:
    """Set the ``on_pass`` / ``on_fail`` aliases the version should hold; return the moves."""
    reason = f"on_{'pass' if passed else 'fail'}"
    moves: list[AliasMove] = []
    for alias in (policy.on_pass if passed else policy.on_fail).aliases:
        if alias == policy.protected_alias:
            continue  # the protected alias moves only by approval (lifecycle)
        history = ctx.ledger.alias_moves(policy.name, alias)
        previous = history[-1]["version"] if history else None
        if alias in version.aliases:
            if previous != version.version:
                # Set by a worker killed before it recorded the move: the alias
                # history is reghook's only memory of previous holders, so record it.
                moves.append(AliasMove(policy.name, alias, version.version, previous,
                                       "reghook", event_id, reason))
        elif any(m["version"] == version.version for m in history):
            # It held the alias and the alias has moved on since (a newer version
            # passed): a replayed or late re-sent old event must not take it back.
            continue
        else:
            moves.append(write_alias(ctx, policy.name, alias, version.version, event_id,
                                     previous, reason=reason))
    return moves


def govern_version(ctx: Context, event_id: str, model: str, version_number: str,
                   payload_tags: dict[str, str] | None = None) -> Result:
    """A version registered by someone else: validate, tag, alias, record, notify."""
    policy = ctx.policy(model)
    if policy is None:
        return ignored(f"no policy for model {model!r}")
    # Registered by reghook itself: its ledger says so — the version is recorded
    # for a run, or an event is still registering the run named in the tags.
    # Tags alone prove nothing: anyone can copy reghook.event_id onto a version.
    tags = payload_tags or {}
    if ctx.ledger.registered_by_reghook(model, version_number) or (
            RUN_TAG in tags and EVENT_TAG in tags
            and ctx.ledger.registering(model, tags[RUN_TAG], tags[EVENT_TAG])):
        return ignored("echo: reghook registered this version")
    if ctx.ledger.last_verdict(model, version_number) is not None:
        return ignored(f"v{version_number} is already governed")
    with side_reads() as reads:
        # The champion is known from the policy: read it beside the version and its run.
        champion = reads.submit(champion_facts, ctx, policy)
        # Tags alone do not say "governed": a worker killed after tagging left
        # them without aliases or records, and converging finishes its work.
        version = ctx.registry.get_version(model, version_number)
        if not version.run_id:
            raise PermanentError(f"{model} v{version_number} has no run to validate")
        if ctx.ledger.registering(model, version.run_id):
            # reghook is registering this run right now (a registry without webhook
            # tags, seen by the watch): decide once it has, rather than converge twice.
            raise TransientError(f"{model} v{version_number}: its run is being registered "
                                 "by reghook")
        run = ctx.registry.get_run(version.run_id)
        return converge_against(ctx, event_id, policy, run, version, champion.result())
