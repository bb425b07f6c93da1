"""Validate a registered version and bring its tags and aliases to what the policy says.

:meth:`VersionGovernance.converge` is idempotent: it computes the desired
tags and aliases from the verdict and writes only differences, so a replay,
a re-send or a retry after a crash ends in the same registry state and adds
no echo. Notifications are keyed by (channel, model, version, outcome) in
the outbox, so a second pass sends nothing new.
"""

from __future__ import annotations

from typing import Any

from handler.errors import PermanentError
from handler.gates import evaluate
from handler.governance.core import (
    EVENT_TAG,
    GATES_TAG,
    RUN_TAG,
    STATUS_TAG,
    VALIDATED_TAG,
    GovernorBase,
    Result,
    done,
    ignored,
)
from handler.outcomes import AliasChange, Outcome
from handler.policy import ModelPolicy
from handler.records import AliasMove, AuditEntry
from handler.verdict import Verdict


class VersionGovernance(GovernorBase):
    """The version-created flow and the convergence step shared with run.finished."""

    def governance_tags(self, policy: ModelPolicy, verdict: Verdict, event_id: str,
                        run_id: str, current: dict[str, str] | None = None) -> dict[str, str]:
        """The tags SPEC §5 fixes, plus the policy's on_pass / on_fail tags.

        When the verdict is unchanged, the event id and validation time of the
        first validation are kept, so re-processing writes nothing.
        """
        current = current or {}
        unchanged = (current.get(STATUS_TAG) == verdict.status
                     and current.get(GATES_TAG) == verdict.summary())
        tags = {
            STATUS_TAG: verdict.status,
            GATES_TAG: verdict.summary(),
            EVENT_TAG: current[EVENT_TAG] if unchanged and EVENT_TAG in current else event_id,
            RUN_TAG: run_id,
            VALIDATED_TAG: (current[VALIDATED_TAG] if unchanged and VALIDATED_TAG in current
                            else self.now_iso()),
        }
        tags.update((policy.on_pass if verdict.passed else policy.on_fail).tags)
        if current.get(STATUS_TAG) == "rolled_back":
            # A rolled-back version stays rolled back: re-validation never clears it.
            tags[STATUS_TAG] = "rolled_back"
        return tags

    def validate(self, policy: ModelPolicy, run: Any, source: str | None,
                 version: str | None) -> Verdict:
        """Evaluate the policy's gates on a run and its model."""
        champion = self.champion_facts(policy, exclude_version=version)
        facts = self.registry.facts(run, source, version,
                                    with_signature=self.wants_signature(policy, champion))
        return evaluate(policy.gates, facts, champion)

    def converge(self, event_id: str, policy: ModelPolicy, run: Any, version: Any,
                 verdict: Verdict | None = None, *, registered_now: bool = False,
                 written: dict[str, str] | None = None) -> Result:
        """Validate (unless given a verdict), write missing tags and aliases, record, notify."""
        # Never wait longer than half the lease: a version still pending after
        # that is retried later, rather than held until another worker takes over.
        version = self.registry.wait_ready(
            version, min(self.settings.ready_timeout_s, self.settings.lease_s / 2))
        if verdict is None:
            verdict = self.validate(policy, run, version.source, version.version)
        desired = self.governance_tags(policy, verdict, event_id, run.run_id, version.tags)
        tags_written = dict(written or {})
        tags_written.update(self.write_tags(policy.name, version.version, version.tags,
                                            desired, event_id))
        self.crashpoint("tagged")

        moves: list[AliasMove] = []
        status = desired[STATUS_TAG]
        aliases = (policy.on_pass if verdict.passed else policy.on_fail).aliases
        if status != "rolled_back":
            reason = f"on_{'pass' if verdict.passed else 'fail'}"
            for alias in aliases:
                if alias == policy.protected_alias:
                    continue  # the protected alias moves only by approval (lifecycle)
                history = self.ledger.alias_moves(policy.name, alias)
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
                    moves.append(self.write_alias(policy.name, alias, version.version, event_id,
                                                  previous, reason=reason))
        self.crashpoint("aliased")

        entries = [AuditEntry("validated", policy.name, version.version, event_id,
                              detail={"status": verdict.status, "gates": verdict.to_json()})]
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
            run_url=self.run_url(run), gates=verdict.gates,
            alias_changes=tuple(AliasChange(m.alias, m.version, m.previous_version) for m in moves),
        )
        self.record(policy, entries, moves, outcome)
        return done(f"v{version.version} {verdict.status}")

    def govern_version(self, event_id: str, model: str, version_number: str,
                       payload_tags: dict[str, str] | None = None) -> Result:
        """``model_version.created`` by someone else: validate, tag, alias (SPEC §2.1 steps 5-8)."""
        # Created with reghook's tags by reghook itself: the tag names one of
        # our own events. A version created by hand with a made-up
        # reghook.event_id is not trusted and is governed like any other.
        if payload_tags and self.ledger.event_exists(payload_tags.get(EVENT_TAG, "")):
            return ignored("echo: reghook registered this version")
        policy = self.policies.for_model(model)
        if policy is None:
            return ignored(f"no policy for model {model!r}")
        if self.ledger.registered_by_reghook(model, version_number):
            return ignored("echo: reghook registered this version")
        if self.ledger.last_verdict(model, version_number) is not None:
            return ignored(f"v{version_number} is already governed")
        # Tags alone do not say "governed": a worker killed after tagging left
        # them without aliases or records, and converging finishes its work.
        version = self.registry.get_version(model, version_number)
        if not version.run_id:
            raise PermanentError(f"{model} v{version_number} has no run to validate")
        run = self.registry.get_run(version.run_id)
        return self.converge(event_id, policy, run, version)
