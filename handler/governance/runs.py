"""The run-finished flow (SPEC §2.1 steps 1-8): exactly one version per (model, run).

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

from typing import Any

from handler.errors import TransientError
from handler.governance.core import EVENT_TAG, RUN_TAG, Result, done, ignored
from handler.governance.versions import VersionGovernance
from handler.outcomes import Outcome
from handler.policy import ModelPolicy
from handler.records import AuditEntry

RUNNING_STATES = ("RUNNING", "SCHEDULED")


class RunGovernance(VersionGovernance):
    """Govern a finished training run."""

    def policy_for_run(self, model: str | None, run: Any) -> ModelPolicy | None:
        """The event's model if named, else the policy of the run's experiment."""
        if model:
            return self.policies.for_model(model)
        by_id = self.policies.for_experiment(run.experiment_id)
        if by_id is not None:
            return by_id
        if not any(p.experiment for p in self.policies.models):
            return None
        return self.policies.for_experiment(self.registry.experiment_name(run.experiment_id))

    def unrecorded_registration(self, policy: ModelPolicy, run_id: str, version: Any) -> bool:
        """Whether reghook registered ``version`` but died before recording anything about it.

        Registration carries the governance tags, so a version found under an
        expired claim with reghook's run tag and no verdict in the ledger was
        registered by a worker killed before its records were written: the
        'registered' entry is due now.
        """
        return (version.tags.get(RUN_TAG) == run_id and EVENT_TAG in version.tags
                and self.ledger.last_verdict(policy.name, version.version) is None)

    def govern_run(self, event_id: str, run_id: str, model: str | None = None) -> Result:
        """Register (once), validate, tag and alias the model of a finished run."""
        run = self.registry.get_run(run_id)
        if run.status in RUNNING_STATES:
            raise TransientError(f"run {run_id} is still {run.status}")
        if run.status != "FINISHED":
            return ignored(f"run {run_id} is {run.status}")
        policy = self.policy_for_run(model, run)
        if policy is None:
            return ignored(f"no policy for {('model ' + repr(model)) if model else 'the run experiment'}")
        source, model_id = self.registry.model_source(run, policy.artifact_path)

        claim = self.ledger.claim_registration(policy.name, run_id, self.owner, event_id,
                                               self.settings.lease_s)
        if claim.status == "busy":
            raise TransientError(f"{policy.name} / run {run_id} is being registered by another worker")
        if claim.status == "registered":
            version = self.registry.get_version(policy.name, claim.version)
            return self.converge(event_id, policy, run, version)

        existing = self.registry.find_version_for_run(policy.name, run_id)
        if existing is not None:
            result = self.converge(event_id, policy, run, existing,
                                   registered_now=self.unrecorded_registration(policy, run_id, existing))
            self.ledger.complete_registration(policy.name, run_id, existing.version)
            return result

        verdict = self.validate(policy, run, source, None)
        if policy.register_mode == "passing" and not verdict.passed:
            self.ledger.release_registration(policy.name, run_id, self.owner)
            self.record(policy, [AuditEntry("rejected", policy.name, None, event_id, detail={
                "run_id": run_id, "registered": False, "gates": verdict.to_json()})],
                outcome=Outcome("rejected", policy.name, None, event_id, run_id=run_id,
                                run_url=self.run_url(run), gates=verdict.gates,
                                reason="not registered (register: passing)"))
            return done("failed the gates; not registered (register: passing)")

        tags = self.governance_tags(policy, verdict, event_id, run_id)
        version = self.registry.create_version(policy.name, source, run_id, model_id, tags)
        self.crashpoint("registered")
        result = self.converge(event_id, policy, run, version, verdict, registered_now=True,
                               written=tags)
        self.ledger.complete_registration(policy.name, run_id, version.version)
        return result
