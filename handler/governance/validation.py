"""Validate a candidate against its policy's gates, with the champion's facts when a gate needs them."""

from __future__ import annotations

from handler.gates import ModelFacts, evaluate, needs_champion
from handler.governance.context import Context
from handler.governance.ports import RunInfo
from handler.policy import ModelPolicy
from handler.verdict import Verdict


def champion_facts(ctx: Context, policy: ModelPolicy) -> ModelFacts | None:
    """Facts about the version holding the compared alias (None: no champion, or no gate needs one)."""
    alias = needs_champion(policy.gates)
    if alias is None:
        return None
    holder = ctx.registry.version_by_alias(policy.name, alias)
    if holder is None or not holder.run_id:
        return None
    key = (policy.name, holder.version)
    if key not in ctx.champion_facts:
        run = ctx.registry.get_run(holder.run_id)
        ctx.champion_facts[key] = ctx.registry.facts(
            run, holder.source, holder.version,
            with_signature=policy.gates.signature == "match_champion")
    return ctx.champion_facts[key]


def validate(ctx: Context, policy: ModelPolicy, run: RunInfo, source: str | None,
             version: str | None) -> Verdict:
    """Evaluate the policy's gates on a run and its model (the champion read here)."""
    return validate_against(ctx, policy, run, source, version, champion_facts(ctx, policy))


def validate_against(ctx: Context, policy: ModelPolicy, run: RunInfo, source: str | None,
                     version: str | None, champion: ModelFacts | None) -> Verdict:
    """Evaluate the policy's gates on a run and its model, beside champion facts already read."""
    # The candidate's signature is read only when a champion's is there to compare.
    with_signature = policy.gates.signature == "match_champion" and champion is not None
    facts = ctx.registry.facts(run, source, version, with_signature=with_signature)
    return evaluate(policy.gates, facts, champion)
