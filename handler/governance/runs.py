"""The run-finished flow: exactly one version per (model, run), then converge (docs/processing.md).

Exactly-once rests on three things: a (model, run) claim in the ledger so
only one worker registers at a time; a registry search by run id before
registering, so whatever a crashed worker registered is adopted; and
registration *with* the governance tags in the same call, so a version
never exists without its verdict. The claim is completed only after the
first convergence has written the aliases and the records: until then other
workers wait (the claim is busy) instead of converging the same version at
once, and a worker killed on the way leaves a claim that, once expired, the
next one takes over, adopting the version and writing what is missing.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

from handler.errors import TransientError
from handler.gates import ModelFacts
from handler.governance.context import Context
from handler.governance.ports import RunInfo, VersionInfo
from handler.governance.reads import side_reads
from handler.governance.results import Result, done, ignored
from handler.governance.tags import EVENT_TAG, RUN_TAG, governance_tags
from handler.governance.validation import champion_facts, validate_against
from handler.governance.versions import converge, converge_against
from handler.governance.writes import record
from handler.outcomes import Outcome
from handler.policy import ModelPolicy
from handler.records import AuditEntry
from handler.verdict import GateResult, Verdict

RUNNING_STATES = ("RUNNING", "SCHEDULED")
UC_SIGNATURE = GateResult("signature", False, None, "inputs and outputs",
                          "Unity Catalog requires a model signature")


def policy_for_run(ctx: Context, model: str | None, run: RunInfo) -> ModelPolicy | None:
    """The event's model if named, else the policy of the run's experiment (by id, then name)."""
    if model:
        return ctx.policy(model)
    by_id = ctx.policies.for_experiment(run.experiment_id)
    if by_id is not None:
        return by_id
    if not any(p.experiment for p in ctx.policies.models):
        return None
    return ctx.policies.for_experiment(ctx.registry.experiment_name(run.experiment_id))


def unrecorded_registration(ctx: Context, policy: ModelPolicy, run_id: str,
                            version: VersionInfo) -> bool:
    """Whether reghook registered ``version`` but died before recording anything about it.

    Registration carries the governance tags, so a version found under an
    expired claim with reghook's run tag and no verdict in the ledger was
    registered by a worker killed before its records were written: the
    'registered' entry is due now.
    """
    return (version.tags.get(RUN_TAG) == run_id and EVENT_TAG in version.tags
            and ctx.ledger.last_verdict(policy.name, version.version) is None)


def reject_unregistered(ctx: Context, event_id: str, policy: ModelPolicy, run: RunInfo,
                        verdict: Verdict, reason: str) -> Result:
    """A run that is not registered: on the record and announced as ``rejected``."""
    record(ctx, policy, [AuditEntry("rejected", policy.name, None, event_id, detail={
        "run_id": run.run_id, "registered": False, "gates": verdict.to_json()})],
        outcome=Outcome("rejected", policy.name, None, event_id, run_id=run.run_id,
                        run_url=ctx.registry.run_url(run.experiment_id, run.run_id),
                        gates=verdict.gates, reason=reason))
    return done(f"failed the gates; {reason}")


@dataclass(frozen=True)
class Candidate:
    """The run's model as registration and the gates need it, read beside the ledger claim."""

    source: str
    model_id: str | None
    champion: ModelFacts | None
    verdict: Verdict
    full_signature: bool = True  # read, and possibly False, on Unity Catalog only


def read_candidate(ctx: Context, policy: ModelPolicy, run: RunInfo,
                   champion: Future[ModelFacts | None]) -> Candidate:
    """The run's model (logged model), its signature (MLmodel) when needed, and its verdict."""
    source, model_id = ctx.registry.model_source(run, policy.artifact_path)
    if ctx.registry.unity_catalog and not ctx.registry.has_full_signature(source):
        return Candidate(source, model_id, None, Verdict((UC_SIGNATURE,)), full_signature=False)
    held = champion.result()
    return Candidate(source, model_id, held,
                     validate_against(ctx, policy, run, source, None, held))


def govern_run(ctx: Context, event_id: str, run_id: str, model: str | None = None) -> Result:
    """Register (once), validate, tag and alias the model of a finished run.

    Sequential, each needing the one before: the run (its model and, without a
    model in the event, the policy), the logged model (the source), the
    signature (a gate), the registration (carrying the verdict's tags), the
    alias (the version number). Beside them: the champion, and the search by
    run after the claim (docs/processing.md, "Round trips").
    """
    with side_reads() as reads:
        named = ctx.policy(model) if model else None
        # Named in the event, the model's champion is known before its run: read both at once.
        champion = reads.submit(champion_facts, ctx, named) if named is not None else None
        run = ctx.registry.get_run(run_id)
        if run.status in RUNNING_STATES:
            raise TransientError(f"run {run_id} is still {run.status}")
        if run.status != "FINISHED":
            return ignored(f"run {run_id} is {run.status}")
        policy = policy_for_run(ctx, model, run)
        if policy is None:
            return ignored(f"no policy for {('model ' + repr(model)) if model else 'the run experiment'}")
        if champion is None:
            champion = reads.submit(champion_facts, ctx, policy)
        candidate = reads.submit(read_candidate, ctx, policy, run, champion)
        return register_once(ctx, event_id, policy, run, candidate)


def register_once(ctx: Context, event_id: str, policy: ModelPolicy, run: RunInfo,
                  reading: Future[Candidate]) -> Result:
    """Claim (model, run), adopt what is registered already, else register with the verdict's tags."""
    if ctx.registry.unity_catalog and not reading.result().full_signature:
        # Unity Catalog refuses such a model only after creating the registered
        # model, leaving an empty one behind: never send it.
        return reject_unregistered(ctx, event_id, policy, run, reading.result().verdict,
                                   "Unity Catalog requires a model signature")

    run_id = run.run_id
    claim = ctx.ledger.claim_registration(policy.name, run_id, ctx.owner, event_id, ctx.lease_s)
    if claim.status == "busy":
        raise TransientError(f"{policy.name} / run {run_id} is being registered by another worker")
    if claim.status == "registered":
        assert claim.version is not None
        return converge_against(ctx, event_id, policy, run,
                                ctx.registry.get_version(policy.name, claim.version),
                                reading.result().champion)

    # Searched with the claim held, while the candidate is still being read.
    existing = ctx.registry.find_version_for_run(policy.name, run_id)
    candidate = reading.result()
    if existing is not None:
        result = converge_against(
            ctx, event_id, policy, run, existing, candidate.champion,
            registered_now=unrecorded_registration(ctx, policy, run_id, existing))
        ctx.ledger.complete_registration(policy.name, run_id, existing.version)
        return result

    verdict = candidate.verdict
    if policy.register_mode == "passing" and not verdict.passed:
        ctx.ledger.release_registration(policy.name, run_id, ctx.owner)
        return reject_unregistered(ctx, event_id, policy, run, verdict,
                                   "not registered (register: passing)")

    tags = governance_tags(policy, verdict, event_id, run_id, ctx.now_iso())
    if ctx.registry.unity_catalog:
        # Registration is asynchronous there: a version may still end
        # FAILED_REGISTRATION, so it carries only who made it until it is READY.
        tags = {k: v for k, v in tags.items() if k in (RUN_TAG, EVENT_TAG)}
    version = ctx.registry.create_version(policy.name, candidate.source, run_id,
                                          candidate.model_id, tags)
    result = converge(ctx, event_id, policy, run, version, verdict, registered_now=True,
                      written=tags)
    ctx.ledger.complete_registration(policy.name, run_id, version.version)
    return result

