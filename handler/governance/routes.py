"""The routing table: which use case handles which (source, type) (docs/processing.md).

Each entry is a small adapter from a stored payload to a use case's
arguments; the use cases never see raw payloads. Payloads were validated
at intake, so a missing field here is a stored event that was never valid
(a permanent error), not the sender's.
"""

from __future__ import annotations

from typing import Any

from handler.errors import PermanentError
from handler.events import databricks_event_kind
from handler.governance import databricks_jobs, databricks_registry, registry_events
from handler.governance.context import Context
from handler.governance.deprecation import deprecate
from handler.governance.lifecycle import promote, rollback
from handler.governance.results import Result
from handler.governance.router import RoutedEvent, Router
from handler.governance.runs import govern_run
from handler.governance.versions import govern_version

# Sources whose run.finished events govern a run: the /events route, the CLI and the sweep.
RUN_FINISHED_SOURCES = ("events", "cli", "sweep")
# Sources of registry events in MLflow's webhook shape: its webhooks, and the watch.
REGISTRY_SOURCES = ("mlflow", "watch")


def _data(event: RoutedEvent) -> dict[str, Any]:
    data = event.payload.get("data")
    if not isinstance(data, dict):
        raise PermanentError(f"{event.type} without a data object")
    return data


def _run_finished(ctx: Context, event: RoutedEvent) -> Result:
    return govern_run(ctx, event.id, str(event.payload["run_id"]), event.payload.get("model"))


def _version_created(ctx: Context, event: RoutedEvent) -> Result:
    data = _data(event)
    return govern_version(ctx, event.id, data["name"], str(data["version"]), data.get("tags") or {})


def _tag_set(ctx: Context, event: RoutedEvent) -> Result:
    data = _data(event)
    return registry_events.on_tag_set(ctx, event.id, data["name"], str(data["version"]),
                                      data["key"], data.get("value"))


def _alias_created(ctx: Context, event: RoutedEvent) -> Result:
    data = _data(event)
    return registry_events.on_alias_created(ctx, event.id, data["name"], data["alias"],
                                            str(data["version"]))


def _alias_deleted(ctx: Context, event: RoutedEvent) -> Result:
    data = _data(event)
    return registry_events.on_alias_deleted(ctx, event.id, data["name"], data["alias"])


def _model_created(ctx: Context, event: RoutedEvent) -> Result:
    return registry_events.on_model_created(ctx, event.id, _data(event)["name"], event.type)


def _promote(ctx: Context, event: RoutedEvent) -> Result:
    p = event.payload
    return promote(ctx, event.id, p["model"], str(p["version"]), actor=p.get("actor", "cli"))


def _deprecate(ctx: Context, event: RoutedEvent) -> Result:
    p = event.payload
    return deprecate(ctx, event.id, p["model"], str(p["version"]),
                     reason=p.get("reason") or "deprecated by hand", actor=p.get("actor", "cli"))


def _govern_version(ctx: Context, event: RoutedEvent) -> Result:
    p = event.payload
    return govern_version(ctx, event.id, p["model"], str(p["version"]))


def _rollback(ctx: Context, event: RoutedEvent) -> Result:
    p = event.payload
    return rollback(ctx, event.id, p["model"], to_version=p.get("to_version"),
                    alias=p.get("alias"), reason=p.get("reason"), actor=p.get("actor", "api"))


def _databricks_target(event: RoutedEvent) -> tuple[str, str | None]:
    model = event.payload.get("model_name")
    if not model:
        raise PermanentError(f"{event.type} without model_name")
    version = event.payload.get("version")
    return str(model), None if version is None else str(version)


def _databricks_versioned(use_case: Any) -> Any:
    """A Databricks registry handler for events that must name a version."""
    def handle(ctx: Context, event: RoutedEvent) -> Result:
        model, version = _databricks_target(event)
        if not version:
            raise PermanentError(f"{event.type} without a version")
        return use_case(ctx, event, model, version)  # type: ignore[no-any-return]
    return handle


def _dbx_audit(ctx: Context, event: RoutedEvent) -> Result:
    model, version = _databricks_target(event)
    return databricks_registry.on_audit_only(ctx, event.id, event.type, model, version,
                                             event.payload)


def build_router() -> Router:
    """Every route reghook acts on; anything else is stored and ``ignored``."""
    router = Router()
    router.add(_run_finished, RUN_FINISHED_SOURCES, "run.finished")
    router.add(_promote, "cli", "promote.requested")
    router.add(_rollback, "cli", "rollback.requested")
    router.add(_deprecate, "cli", "deprecate.requested")
    router.add(_govern_version, "cli", "version.govern.requested")
    # The registry watch stores what it sees in MLflow's webhook shape: same handlers.
    router.add(_version_created, REGISTRY_SOURCES, "model_version.created")
    router.add(_tag_set, REGISTRY_SOURCES, "model_version_tag.set")
    router.add(_alias_created, REGISTRY_SOURCES, "model_version_alias.created")
    router.add(_alias_deleted, REGISTRY_SOURCES, "model_version_alias.deleted")
    router.add(_model_created, "mlflow", "registered_model.created")

    router.fold("databricks", databricks_event_kind)
    router.add(_dbx_audit, "databricks", "REGISTERED_MODEL_CREATED", "COMMENT_CREATED")
    router.add(_databricks_versioned(lambda ctx, e, m, v: govern_version(ctx, e.id, m, v)),
               "databricks", "MODEL_VERSION_CREATED")
    router.add(_databricks_versioned(lambda ctx, e, m, v: databricks_registry.on_tags_set(
        ctx, e.id, m, v, e.payload)), "databricks", "MODEL_VERSION_TAG_SET")
    router.add(_databricks_versioned(lambda ctx, e, m, v: databricks_registry.on_transition_request(
        ctx, e.id, e.type, m, v, e.payload)), "databricks", "TRANSITION_REQUEST_CREATED")
    router.add(_databricks_versioned(lambda ctx, e, m, v: databricks_registry.on_stage_transitioned(
        ctx, e.id, e.type, m, v, e.payload)), "databricks", "MODEL_VERSION_TRANSITIONED_STAGE")

    router.add(lambda ctx, e: databricks_jobs.on_job_success(ctx, e.id, e.payload),
               "databricks_jobs", "jobs.on_success")
    router.add(lambda ctx, e: databricks_jobs.on_job_failure(ctx, e.id, e.payload),
               "databricks_jobs", "jobs.on_failure")
    return router
