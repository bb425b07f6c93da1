"""The MLflow registry adapter: registry and tracking calls through ``MlflowClient`` (REST).

Never builds a filter string from user text (quotes cannot be escaped in
MLflow filters: only hex run ids are searched, and every returned name is
compared exactly), and caches facts that cannot change (a logged model's
signature, an experiment's name).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from handler.errors import PermanentError, TransientError
from handler.gates import ModelFacts
from handler.governance.ports import RunInfo, VersionInfo
from handler.registry.signatures import read_signature
from handler.registry.translate import (
    RUN_ID,
    WRITE_CONFLICT,
    RegistryNotFound,
    classify,
    run_info,
    version_info,
)

T = TypeVar("T")


class MlflowRegistry:
    """Registry and tracking calls through ``MlflowClient`` (REST)."""

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None,
                 ui_url: str | None = None, interrupt: threading.Event | None = None) -> None:
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
        # Set when the worker stops: ends wait_ready at once (docs/processing.md).
        self._interrupt = interrupt or threading.Event()
        self.tracking_uri = tracking_uri or self.client.tracking_uri
        self.registry_uri = str(self.client._registry_uri)
        self.ui_url = (ui_url or self.tracking_uri).rstrip("/")
        self._experiments: dict[str, str] = {}
        self._signatures: dict[str, tuple[dict[str, str] | None, bool]] = {}
        self._logged_model_names: dict[str, tuple[str, str | None]] = {}
        self._artifact_locations: dict[str, str] = {}
        self._known_models: set[str] = set()

    @property
    def unity_catalog(self) -> bool:
        """Whether the registry is Unity Catalog (``databricks-uc``)."""
        return self.registry_uri.startswith("databricks-uc")

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one registry call, mapping MLflow and network errors to reghook's."""
        try:
            return fn()
        except MlflowException as exc:
            if WRITE_CONFLICT.search(exc.message or ""):
                raise TransientError(f"{what}: a concurrent write conflicted") from exc
            raise classify(exc, what) from exc
        except (OSError, ConnectionError) as exc:
            raise TransientError(f"{what}: MLflow unreachable ({type(exc).__name__})") from exc

    # --- runs ------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunInfo:
        """Read a run: status, metrics, tags, training datasets, logged models."""
        if not RUN_ID.match(run_id):
            raise PermanentError(f"{run_id!r} is not a valid run id")
        return run_info(self._call(f"run {run_id}", lambda: self.client.get_run(run_id)))

    def experiment_name(self, experiment_id: str) -> str:
        """An experiment's name (names can change but rarely do: cached per process)."""
        if experiment_id not in self._experiments:
            experiment = self._call(f"experiment {experiment_id}",
                                    lambda: self.client.get_experiment(experiment_id))
            self._experiments[experiment_id] = experiment.name
        return self._experiments[experiment_id]

    def experiment_id(self, experiment: str) -> str | None:
        """The id of the experiment named ``experiment`` (None: no such experiment)."""
        found = self._call(f"experiment {experiment}",
                           lambda: self.client.get_experiment_by_name(experiment))
        return None if found is None else str(found.experiment_id)

    def runs_tagged(self, experiment_ids: list[str], key: str, value: str,
                    limit: int = 5000) -> list[RunInfo]:
        """Runs of these experiments whose tag ``key`` is exactly ``value``.

        Both go into a filter string, where quotes cannot be escaped: values
        with quotes or backticks are refused, and every result is compared exactly.
        """
        if any(c in key + value for c in "'`\\\""):
            raise PermanentError(f"cannot search runs by tag {key!r}={value!r}")
        query = f"tags.`{key}` = '{value}'"
        found: list[RunInfo] = []
        token = None
        while len(found) < limit:
            page = self._call(f"runs tagged {key}={value}", partial(
                self.client.search_runs, experiment_ids, filter_string=query, max_results=500,
                page_token=token))
            found.extend(run_info(r) for r in page if r.data.tags.get(key) == value)
            token = page.token
            if not token:
                break
        return found

    def model_source(self, run: RunInfo, artifact_path: str) -> tuple[str, str | None]:
        """(source, model_id) of the run's model named ``artifact_path``.

        MLflow 3 logs models as logged models (``models:/m-…``); older runs keep
        them as run artifacts, registered from the run's artifact location.
        """
        for model_id in run.model_ids:
            if model_id not in self._logged_model_names:
                logged = self._call(f"logged model {model_id}",
                                    partial(self.client.get_logged_model, model_id))
                self._logged_model_names[model_id] = (logged.name, logged.source_run_id)
                self._artifact_locations[model_id] = logged.artifact_location
            name, source_run = self._logged_model_names[model_id]
            if name == artifact_path and source_run in (None, run.run_id):
                return f"models:/{model_id}", model_id
        if not run.artifact_uri:
            raise PermanentError(f"run {run.run_id} has no model named {artifact_path!r}")
        return f"{run.artifact_uri.rstrip('/')}/{artifact_path}", None

    def _signature(self, source: str) -> tuple[dict[str, str] | None, bool]:
        """(input column → type, whether outputs are declared) of a model's signature. Cached
        by its MLmodel's location: ``models:/m-…`` and the artifact location Unity Catalog
        registers it from name one file, read once."""
        mlmodel_uri = self._mlmodel_uri(source)
        if mlmodel_uri not in self._signatures:
            self._signatures[mlmodel_uri] = self._call(f"signature of {source}",
                                                       partial(read_signature, mlmodel_uri))
        return self._signatures[mlmodel_uri]

    def signature_inputs(self, source: str) -> dict[str, str] | None:
        """Input column → type of the model's signature (None: no signature)."""
        return self._signature(source)[0]

    def has_full_signature(self, source: str) -> bool:
        """Whether the model declares both inputs and outputs (what Unity Catalog requires)."""
        inputs, outputs = self._signature(source)
        return inputs is not None and outputs

    def _mlmodel_uri(self, source: str) -> str:
        """Where a model source's MLmodel file is (logged models: their artifact location)."""
        if source.startswith("models:/m-"):
            model_id = source.removeprefix("models:/").split("/", 1)[0]
            if model_id not in self._artifact_locations:
                logged = self._call(f"logged model {model_id}",
                                    partial(self.client.get_logged_model, model_id))
                self._artifact_locations[model_id] = logged.artifact_location
            return f"{self._artifact_locations[model_id].rstrip('/')}/MLmodel"
        return f"{source.rstrip('/')}/MLmodel"

    def facts(self, run: RunInfo, source: str | None, version: str | None,
              with_signature: bool) -> ModelFacts:
        """What the gates look at, for a run and its model."""
        return ModelFacts(
            run_id=run.run_id, metrics=run.metrics, tags=run.tags,
            signature_inputs=self.signature_inputs(source) if (with_signature and source) else None,
            datasets=run.datasets, version=version)

    def run_url(self, experiment_id: str, run_id: str) -> str:
        """The run's page in the MLflow UI."""
        return f"{self.ui_url}/#/experiments/{experiment_id}/runs/{run_id}"

    # --- versions ----------------------------------------------------------------

    def find_version_for_run(self, model: str, run_id: str) -> VersionInfo | None:
        """The oldest version of ``model`` made from ``run_id``, if any.

        Searches by run id only (hex, safe in a filter) and compares names
        exactly: a model name is never pasted into a filter string.
        """
        if not RUN_ID.match(run_id):
            raise PermanentError(f"{run_id!r} is not a valid run id")
        found = self._call(f"versions of run {run_id}", lambda: self.client.search_model_versions(
            f"run_id='{run_id}'", max_results=1000))
        mine = [str(mv.version) for mv in found if mv.name == model]
        # Unity Catalog's search results carry no tags or aliases: read the version itself.
        return self.get_version(model, min(mine, key=int)) if mine else None

    def create_version(self, model: str, source: str, run_id: str, model_id: str | None,
                       tags: dict[str, str]) -> VersionInfo:
        """Register a new version (creating the registered model the first time)."""
        def create() -> Any:
            return self.client._create_model_version(
                name=model, source=source, run_id=run_id, tags=tags,
                await_creation_for=0, model_id=model_id)

        if model not in self._known_models:
            self.ensure_model(model)
        return version_info(self._call(f"register {model}", create))

    def ensure_model(self, model: str) -> None:
        """Create the registered model unless it exists."""
        try:
            self._call(f"model {model}", lambda: self.client.create_registered_model(model))
        except PermanentError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, MlflowException)
                    and cause.error_code in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS")):
                raise
        self._known_models.add(model)

    def get_version(self, model: str, version: str) -> VersionInfo:
        """Read one version (tags and aliases included)."""
        return version_info(self._call(f"{model} v{version}",
                                   lambda: self.client.get_model_version(model, version)))

    def wait_ready(self, version: VersionInfo, timeout_s: float) -> VersionInfo:
        """Wait (bounded, interruptible) until a version is READY; FAILED_REGISTRATION is permanent."""
        deadline = time.monotonic() + timeout_s
        while version.status not in ("READY", "FAILED_REGISTRATION"):
            if time.monotonic() > deadline:
                raise TransientError(f"{version.name} v{version.version} still {version.status}")
            if self._interrupt.wait(1):
                raise TransientError(f"{version.name} v{version.version} still {version.status}"
                                     " (the worker is stopping)")
            version = self.get_version(version.name, version.version)
        if version.status == "FAILED_REGISTRATION":
            raise PermanentError(f"{version.name} v{version.version} failed registration: "
                                 f"{version.status_message or 'the registry gave no reason'}")
        return version

    def version_by_alias(self, model: str, alias: str) -> VersionInfo | None:
        """The version holding ``alias``, or None if the alias is unset."""
        try:
            return version_info(self._call(f"{model}@{alias}",
                                       lambda: self.client.get_model_version_by_alias(model, alias)))
        except RegistryNotFound:
            return None

    def _registry_client(self) -> Any:
        return self.client._get_registry_client()  # type: ignore[no-untyped-call]

    def set_tag(self, model: str, version: str, key: str, value: str) -> None:
        """Set one version tag."""
        # The registry client directly: MlflowClient first reads the whole
        # registered model (every version) to rule out a prompt, a call that
        # grows with the model's history. reghook only governs policy models.
        registry = self._registry_client()
        self._call(f"tag {model} v{version}",
                   lambda: registry.set_model_version_tag(model, version, key, value))

    def set_alias(self, model: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (skipping the prompt check, as in :meth:`set_tag`)."""
        registry = self._registry_client()
        self._call(f"alias {model}@{alias}",
                   lambda: registry.set_registered_model_alias(model, alias, version))

    def delete_alias(self, model: str, alias: str) -> None:
        """Remove ``alias`` (no error if it is already gone)."""
        with contextlib.suppress(RegistryNotFound):
            self._call(f"alias {model}@{alias}",
                       lambda: self.client.delete_registered_model_alias(model, alias))


    def aliases_of(self, model: str) -> dict[str, str] | None:
        """Alias → version of a registered model, in one call (None: no such model)."""
        try:
            found = self._call(f"model {model}", lambda: self.client.get_registered_model(model))
        except RegistryNotFound:
            return None
        return {str(alias): str(version) for alias, version in (found.aliases or {}).items()}

    def version_numbers(self, model: str, page_size: int = 1000) -> list[str]:
        """Every version number of a model, listed by name (one condition: Unity Catalog allows no more).

        The name goes into a filter string, where quotes cannot be escaped: a
        name with a quote is refused, and every returned name is compared exactly.
        """
        if "'" in model or "\\" in model:
            raise PermanentError(f"cannot list versions of {model!r}: quotes cannot be escaped")
        numbers: list[str] = []
        token = None
        while True:
            page = self._call(f"versions of {model}", partial(
                self.client.search_model_versions, f"name='{model}'", max_results=page_size,
                page_token=token))
            numbers.extend(str(mv.version) for mv in page if mv.name == model)
            token = page.token
            if not token:
                return numbers

    def finished_runs(self, experiment: str, since_ms: int) -> list[str]:
        """Ids of FINISHED runs of an experiment (by name or id) that ended after ``since_ms``."""
        found = self._call(f"experiment {experiment}",
                           lambda: self.client.get_experiment_by_name(experiment))
        if found is None:
            try:
                found = self._call(f"experiment {experiment}",
                                   lambda: self.client.get_experiment(experiment))
            except PermanentError:
                return []
        runs = self._call(f"runs of {experiment}", lambda: self.client.search_runs(
            [found.experiment_id],
            filter_string=f"attributes.status = 'FINISHED' AND attributes.end_time > {int(since_ms)}",
            max_results=1000))
        return [r.info.run_id for r in runs]
