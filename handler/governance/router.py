"""Route a stored event to its use case by (source, type): plain strings, unknown → ignored."""

from __future__ import annotations

import json
from typing import Any

from handler.errors import PermanentError
from handler.governance import Governor
from handler.governance.core import Result, done, ignored
from handler.records import AuditEntry
from handler.store.queue import ClaimedEvent

RUN_FINISHED_SOURCES = ("events", "cli", "sweep")


def _mlflow(governor: Governor, event_id: str, event_type: str, data: dict[str, Any]) -> Result:
    if event_type == "model_version.created":
        return governor.govern_version(event_id, data["name"], str(data["version"]),
                                       data.get("tags") or {})
    if event_type == "model_version_tag.set":
        return governor.on_tag_set(event_id, data["name"], str(data["version"]), data["key"],
                                   data.get("value"))
    if event_type == "model_version_alias.created":
        return governor.on_alias_created(event_id, data["name"], data["alias"],
                                         str(data["version"]))
    if event_type == "model_version_alias.deleted":
        return governor.on_alias_deleted(event_id, data["name"], data["alias"])
    if event_type == "registered_model.created":
        policy = governor.policies.for_model(data["name"])
        governor.record(policy, [AuditEntry("recorded", data["name"], None, event_id,
                                            actor="mlflow", detail={"event": event_type})])
        return done("audit only")
    return ignored(f"reghook does not act on {event_type}")


def dispatch(governor: Governor, event: ClaimedEvent) -> Result:
    """Process one claimed event with the matching use case."""
    try:
        payload = json.loads(event.body)
    except ValueError:
        raise PermanentError("the stored body is not JSON") from None
    source = event.original_source
    if source == "mlflow":
        return _mlflow(governor, event.id, event.type, payload.get("data") or {})
    if source in RUN_FINISHED_SOURCES and event.type == "run.finished":
        return governor.govern_run(event.id, payload["run_id"], payload.get("model"))
    if source == "cli" and event.type == "promote.requested":
        return governor.promote(event.id, payload["model"], str(payload["version"]),
                                actor=payload.get("actor", "cli"))
    if source == "cli" and event.type == "rollback.requested":
        return governor.rollback(event.id, payload["model"], to_version=payload.get("to_version"),
                                 alias=payload.get("alias"), reason=payload.get("reason"),
                                 actor=payload.get("actor", "api"))
    if source == "databricks":
        from handler.governance.databricks import dispatch_databricks

        return dispatch_databricks(governor, event.id, event.type, payload)
    if source == "databricks_jobs":
        from handler.governance.databricks import dispatch_job

        return dispatch_job(governor, event.id, event.type, payload)
    return ignored(f"reghook does not act on {source}/{event.type}")
