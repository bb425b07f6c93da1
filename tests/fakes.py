"""In-memory fakes of the governance ports: a registry and a Databricks workspace.

They behave as the real systems do where governance depends on it — version
numbers count up per model, an alias points at one version, ``get_version``
shows current tags and aliases, unknown things raise ``RegistryNotFound``
— and they record every write, so a test reads what reghook did to the
registry. ``fail_next`` makes a named call raise once (an outage, a crash).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from handler.errors import PermanentError, TransientError
from handler.gates import DatasetFact, ModelFacts
from handler.governance.ports import JobRunFacts, RunInfo, VersionInfo

WRITES = ("create_version", "set_tag", "set_alias", "delete_alias")


class NotFound(PermanentError):
    """The fake registry has no such thing (as MLflow's RESOURCE_DOES_NOT_EXIST)."""


@dataclass
class FakeVersion:
    """A stored version: the registry's state of it."""

    name: str
    version: str
    run_id: str | None
    source: str
    status: str = "READY"
    tags: dict[str, str] = field(default_factory=dict)
    status_message: str | None = None


class FakeRegistry:
    """The model registry and tracking server, in dicts."""

    def __init__(self, ui_url: str = "http://mlflow.test", *, unity_catalog: bool = False) -> None:
        self.ui_url = ui_url
        self.unity_catalog = unity_catalog
        # What a new version's status is on creation ("PENDING_REGISTRATION" as in UC).
        self.created_status = "READY"
        self.runs: dict[str, RunInfo] = {}
        self.experiments: dict[str, str] = {}  # id -> name
        self.signatures: dict[str, dict[str, str] | None] = {}  # source -> inputs
        self.inputs_only: set[str] = set()  # sources whose signature declares no outputs
        self.versions: dict[tuple[str, str], FakeVersion] = {}
        self.aliases: dict[tuple[str, str], str] = {}  # (model, alias) -> version
        self.log: list[tuple[str, tuple[Any, ...]]] = []
        self.failures: dict[str, list[Exception]] = {}

    # --- test set-up ------------------------------------------------------------

    def add_run(self, run_id: str, *, metrics: dict[str, float], experiment_id: str = "1",
                tags: dict[str, str] | None = None, status: str = "FINISHED",
                datasets: tuple[DatasetFact, ...] = (),
                signature: dict[str, str] | None = None) -> RunInfo:
        """A training run with a logged model at ``runs:/<run>/model``."""
        run = RunInfo(run_id=run_id, status=status, experiment_id=experiment_id,
                      artifact_uri=f"mlflow-artifacts:/{run_id}", metrics=dict(metrics),
                      tags=dict(tags or {}), datasets=datasets)
        self.runs[run_id] = run
        self.experiments.setdefault(experiment_id, f"/Shared/exp-{experiment_id}")
        self.signatures[f"runs:/{run_id}/model"] = signature
        return run

    def register_by_hand(self, model: str, run_id: str, tags: dict[str, str] | None = None) -> str:
        """A version registered by someone else (not logged as a reghook write)."""
        return self._new_version(model, f"runs:/{run_id}/model", run_id, dict(tags or {})).version

    def fail_next(self, method: str, error: Exception) -> None:
        """Make the next call of ``method`` raise ``error`` (before it has any effect)."""
        self.failures.setdefault(method, []).append(error)

    def writes(self, kind: str | None = None) -> list[tuple[str, tuple[Any, ...]]]:
        """Registry writes so far (of one kind, or all)."""
        return [w for w in self.log if w[0] in WRITES and (kind is None or w[0] == kind)]

    def _enter(self, method: str, *args: Any) -> None:
        pending = self.failures.get(method)
        if pending:
            raise pending.pop(0)
        self.log.append((method, args))

    def _new_version(self, model: str, source: str, run_id: str,
                     tags: dict[str, str]) -> FakeVersion:
        number = str(1 + sum(1 for (m, _v) in self.versions if m == model))
        stored = FakeVersion(model, number, run_id, source, status=self.created_status,
                             tags=dict(tags))
        self.versions[(model, number)] = stored
        return stored

    def _info(self, stored: FakeVersion) -> VersionInfo:
        aliases = tuple(a for (m, a), v in self.aliases.items()
                        if m == stored.name and v == stored.version)
        return VersionInfo(stored.name, stored.version, stored.run_id, stored.source,
                           stored.status, dict(stored.tags), aliases, stored.status_message)

    # --- the Registry port ---------------------------------------------------------

    def get_run(self, run_id: str) -> RunInfo:
        self._enter("get_run", run_id)
        if run_id not in self.runs:
            raise NotFound(f"run {run_id}: not found in the registry")
        return self.runs[run_id]

    def experiment_name(self, experiment_id: str) -> str:
        self._enter("experiment_name", experiment_id)
        return self.experiments[experiment_id]

    def experiment_id(self, experiment: str) -> str | None:
        self._enter("experiment_id", experiment)
        return next((i for i, n in self.experiments.items() if n == experiment), None)

    def runs_tagged(self, experiment_ids: list[str], key: str, value: str) -> list[RunInfo]:
        self._enter("runs_tagged", tuple(experiment_ids), key, value)
        return [r for r in self.runs.values()
                if r.experiment_id in experiment_ids and r.tags.get(key) == value]

    def finished_runs(self, experiment: str, since_ms: int) -> list[str]:
        self._enter("finished_runs", experiment, since_ms)
        ids = {i for i, n in self.experiments.items() if experiment in (i, n)}
        return [r.run_id for r in self.runs.values()
                if r.experiment_id in ids and r.status == "FINISHED"]

    def model_source(self, run: RunInfo, artifact_path: str) -> tuple[str, str | None]:
        return f"runs:/{run.run_id}/{artifact_path}", None

    def facts(self, run: RunInfo, source: str | None, version: str | None,
              with_signature: bool) -> ModelFacts:
        signature = self.signatures.get(source or "") if with_signature else None
        return ModelFacts(run_id=run.run_id, metrics=run.metrics, tags=run.tags,
                          signature_inputs=signature, datasets=run.datasets, version=version)

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.ui_url}/#/experiments/{experiment_id}/runs/{run_id}"

    def find_version_for_run(self, model: str, run_id: str) -> VersionInfo | None:
        self._enter("find_version_for_run", model, run_id)
        mine = [v for (m, _n), v in self.versions.items() if m == model and v.run_id == run_id]
        return self._info(min(mine, key=lambda v: int(v.version))) if mine else None

    def create_version(self, model: str, source: str, run_id: str, model_id: str | None,
                       tags: dict[str, str]) -> VersionInfo:
        self._enter("create_version", model, run_id, dict(tags))
        return self._info(self._new_version(model, source, run_id, tags))

    def get_version(self, model: str, version: str) -> VersionInfo:
        self._enter("get_version", model, version)
        if (model, version) not in self.versions:
            raise NotFound(f"{model} v{version}: not found in the registry")
        return self._info(self.versions[(model, version)])

    def wait_ready(self, version: VersionInfo, timeout_s: float) -> VersionInfo:
        stored = self.versions[(version.name, version.version)]
        if stored.status == "FAILED_REGISTRATION":
            raise PermanentError(f"{version.name} v{version.version} failed registration: "
                                 f"{stored.status_message}")
        if stored.status != "READY":
            raise TransientError(f"{version.name} v{version.version} still {stored.status}")
        return replace(self._info(stored))

    def has_full_signature(self, source: str) -> bool:
        return self.signatures.get(source) is not None and source not in self.inputs_only

    def aliases_of(self, model: str) -> dict[str, str] | None:
        self._enter("aliases_of", model)
        if not any(m == model for (m, _v) in self.versions):
            return None
        return {a: v for (m, a), v in self.aliases.items() if m == model}

    def version_numbers(self, model: str) -> list[str]:
        self._enter("version_numbers", model)
        return [v for (m, v) in self.versions if m == model]

    def version_by_alias(self, model: str, alias: str) -> VersionInfo | None:
        self._enter("version_by_alias", model, alias)
        number = self.aliases.get((model, alias))
        return None if number is None else self._info(self.versions[(model, number)])

    def set_tag(self, model: str, version: str, key: str, value: str) -> None:
        self._enter("set_tag", model, version, key, value)
        self.versions[(model, version)].tags[key] = value

    def set_alias(self, model: str, alias: str, version: str) -> None:
        self._enter("set_alias", model, alias, version)
        self.aliases[(model, alias)] = version

    def delete_alias(self, model: str, alias: str) -> None:
        self._enter("delete_alias", model, alias)
        self.aliases.pop((model, alias), None)

    # --- what people do in the registry ----------------------------------------------

    def tags_of(self, model: str, version: str) -> dict[str, str]:
        """A version's tags as the registry holds them now."""
        return dict(self.versions[(model, version)].tags)

    def holder(self, model: str, alias: str) -> str | None:
        """The version an alias points at now."""
        return self.aliases.get((model, alias))


@dataclass
class FakeWorkspace:
    """A Databricks workspace: open transition requests and job runs, with decisions recorded."""

    open_requests: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    job_runs: dict[str, JobRunFacts] = field(default_factory=dict)
    decisions: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def open_transition_stages(self, name: str, version: str) -> list[str]:
        return list(self.open_requests.get((name, version), []))

    def approve_transition(self, name: str, version: str, stage: str, comment: str) -> bool:
        return self._decide("approved", name, version, stage, comment)

    def reject_transition(self, name: str, version: str, stage: str, comment: str) -> bool:
        return self._decide("rejected", name, version, stage, comment)

    def _decide(self, decision: str, name: str, version: str, stage: str, comment: str) -> bool:
        stages = self.open_requests.get((name, version), [])
        if stage not in stages:
            return False
        stages.remove(stage)
        self.decisions.append((decision, name, version, stage, comment))
        return True

    def job_run(self, run_id: str) -> JobRunFacts | None:
        return self.job_runs.get(run_id)
