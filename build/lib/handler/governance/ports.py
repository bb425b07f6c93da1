"""What the governance use cases need from the outside world: typed ports and their values.

Pure: value types and ``Protocol`` s only, no I/O and no third-party client.
The real adapters are :class:`handler.registry.MlflowRegistry` (MLflow),
:class:`handler.databricks.DatabricksWorkspace` (Databricks REST) and
:class:`handler.store.Store` (the ledger); ``tests/fakes.py`` has in-memory
fakes with the same methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from handler.gates import DatasetFact, ModelFacts
from handler.outcomes import Outcome
from handler.records import AliasMove, AuditEntry

# A job run's result that counts as success (Jobs API RunResultState).
SUCCESS_STATES = ("SUCCESS", "SUCCESS_WITH_FAILURES")
# Life-cycle states after which a job run no longer changes (RunLifeCycleState).
TERMINAL_STATES = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")


@dataclass(frozen=True)
class RunInfo:
    """A training run, as governance needs it."""

    run_id: str
    status: str
    experiment_id: str
    artifact_uri: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    datasets: tuple[DatasetFact, ...] = ()
    model_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class VersionInfo:
    """A registered model version as read from the registry."""

    name: str
    version: str
    run_id: str | None
    source: str
    status: str = "READY"
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    status_message: str | None = None


@dataclass(frozen=True)
class JobRunFacts:
    """A Databricks job run as the Jobs API reports it (ids as strings)."""

    run_id: str
    job_id: str | None
    life_cycle_state: str | None
    result_state: str | None
    task_run_ids: tuple[str, ...] = ()
    run_name: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the run has ended (its result no longer changes)."""
        return self.result_state is not None or self.life_cycle_state in TERMINAL_STATES

    @property
    def succeeded(self) -> bool:
        """SUCCESS, or SUCCESS_WITH_FAILURES (leaf tasks succeeded)."""
        return self.result_state in SUCCESS_STATES


class RegistrationClaim(Protocol):
    """The ledger's answer to "may I register (model, run)?"."""

    @property
    def status(self) -> str:
        """``claimed`` (go ahead), ``busy`` (another worker is at it) or ``registered``."""

    @property
    def version(self) -> str | None:
        """The version registered, when ``registered``."""


class Registry(Protocol):
    """The model registry and tracking server (MLflow, or Unity Catalog through MLflow)."""

    @property
    def unity_catalog(self) -> bool:
        """Whether the registry is Unity Catalog: no webhooks, signatures required, async versions."""

    def get_run(self, run_id: str) -> RunInfo: ...
    def experiment_name(self, experiment_id: str) -> str: ...
    def experiment_id(self, experiment: str) -> str | None: ...
    def runs_tagged(self, experiment_ids: list[str], key: str, value: str) -> list[RunInfo]: ...
    def finished_runs(self, experiment: str, since_ms: int) -> list[str]: ...
    def model_source(self, run: RunInfo, artifact_path: str) -> tuple[str, str | None]: ...
    def facts(self, run: RunInfo, source: str | None, version: str | None,
              with_signature: bool) -> ModelFacts: ...
    def run_url(self, experiment_id: str, run_id: str) -> str: ...
    def has_full_signature(self, source: str) -> bool: ...
    def aliases_of(self, model: str) -> dict[str, str] | None: ...
    def version_numbers(self, model: str) -> list[str]: ...
    def find_version_for_run(self, model: str, run_id: str) -> VersionInfo | None: ...
    def create_version(self, model: str, source: str, run_id: str, model_id: str | None,
                       tags: dict[str, str]) -> VersionInfo: ...
    def get_version(self, model: str, version: str) -> VersionInfo: ...
    def wait_ready(self, version: VersionInfo, timeout_s: float) -> VersionInfo: ...
    def version_by_alias(self, model: str, alias: str) -> VersionInfo | None: ...
    def set_tag(self, model: str, version: str, key: str, value: str) -> None: ...
    def set_alias(self, model: str, alias: str, version: str) -> None: ...
    def delete_alias(self, model: str, alias: str) -> None: ...


class Ledger(Protocol):
    """What governance reads from and writes to the event store."""

    def record(self, entries: Iterable[AuditEntry] = (), moves: Iterable[AliasMove] = (),
               outcomes: Iterable[tuple[str, Outcome]] = ()) -> None: ...
    def last_verdict(self, model: str, version: str) -> str | None: ...
    def alias_moves(self, model: str, alias: str | None = None) -> list[dict[str, Any]]: ...
    def claim_registration(self, model: str, run_id: str, owner: str, event_id: str,
                           lease_s: float) -> RegistrationClaim: ...
    def complete_registration(self, model: str, run_id: str, version: str) -> None: ...
    def release_registration(self, model: str, run_id: str, owner: str) -> None: ...
    def registered_by_reghook(self, model: str, version: str) -> bool: ...
    def registering(self, model: str, run_id: str, event_id: str | None = None) -> bool: ...
    def note_own_write(self, model: str, version: str | None, kind: str, key: str | None,
                       value: str | None, event_id: str | None) -> None: ...
    def consume_own_write(self, model: str, version: str | None, kind: str, key: str | None,
                          value: str | None, within_s: float = 3600) -> bool: ...


class Workspace(Protocol):
    """The Databricks workspace: legacy-registry transition requests and job runs."""

    def open_transition_stages(self, name: str, version: str) -> list[str]: ...
    def approve_transition(self, name: str, version: str, stage: str, comment: str) -> bool: ...
    def reject_transition(self, name: str, version: str, stage: str, comment: str) -> bool: ...
    def job_run(self, run_id: str) -> JobRunFacts | None: ...


class WatchMemory(Protocol):
    """What the registry watch remembers between looks (the store)."""

    def claim_watch_look(self, model: str, owner: str, every_s: float) -> bool: ...
    def watch_state(self, model: str) -> dict[str, Any] | None: ...
    def save_watch_state(self, model: str, state: dict[str, Any]) -> None: ...
    def passed_versions(self, model: str, limit: int = 20) -> list[str]: ...


class Inbox(Protocol):
    """Where events are stored once per idempotency key (the store)."""

    def ingest(self, *, source: str, event_type: str, idempotency_key: str, status: str,
               body: str, headers: dict[str, str], last_error: str | None = None,
               replay_of: str | None = None) -> tuple[str, bool]: ...
