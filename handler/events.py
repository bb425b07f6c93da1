"""Typed inbound events: parse a verified raw delivery into an :class:`Intake`.

Pure: takes bytes and header values, returns values. Event names are plain
strings so a new upstream event type is stored as ``ignored``, never an
error. Payloads reghook acts on are validated with pydantic; an authentic
payload of the wrong shape raises :class:`~handler.errors.InvalidPayload`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from handler.errors import InvalidPayload
from handler.json_body import load_json


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


def _as_str(value: Any) -> Any:
    """Ids and versions arrive as strings or numbers; keep them as strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    return value


# --- MLflow -----------------------------------------------------------------


class MlflowEnvelope(_Payload):
    """The body of every MLflow webhook delivery."""

    entity: str = Field(min_length=1)
    action: str = Field(min_length=1)
    timestamp: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class RegisteredModelCreated(_Payload):
    """``registered_model.created`` data."""

    name: str = Field(min_length=1)
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None


class ModelVersionCreated(_Payload):
    """``model_version.created`` data (``run_id`` may be null; re-read it)."""

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    source: str | None = None
    run_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None

    _coerce = field_validator("version", mode="before")(_as_str)


class ModelVersionTagSet(_Payload):
    """``model_version_tag.set`` data."""

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    key: str
    value: str | None = None

    _coerce = field_validator("version", mode="before")(_as_str)


class ModelVersionAliasCreated(_Payload):
    """``model_version_alias.created`` data (also sent when an alias moves)."""

    name: str = Field(min_length=1)
    alias: str = Field(min_length=1)
    version: str = Field(min_length=1)

    _coerce = field_validator("version", mode="before")(_as_str)


class ModelVersionAliasDeleted(_Payload):
    """``model_version_alias.deleted`` data (no version)."""

    name: str = Field(min_length=1)
    alias: str = Field(min_length=1)


MLFLOW_DATA: dict[str, type[_Payload]] = {
    "registered_model.created": RegisteredModelCreated,
    "model_version.created": ModelVersionCreated,
    "model_version_tag.set": ModelVersionTagSet,
    "model_version_alias.created": ModelVersionAliasCreated,
    "model_version_alias.deleted": ModelVersionAliasDeleted,
}
# The MLflow webhook events reghook subscribes to and acts on (the one list:
# the CLI's `webhooks install mlflow`, the demo and the benchmarks use it).
MLFLOW_EVENT_TYPES: tuple[str, ...] = tuple(MLFLOW_DATA)

# --- Databricks ---------------------------------------------------------------


class DatabricksRegistryEvent(_Payload):
    """A Databricks Workspace Model Registry webhook body."""

    event: str = Field(min_length=1)
    webhook_id: str | None = None
    event_timestamp: int
    model_name: str | None = None
    version: str | None = None
    to_stage: str | None = None
    from_stage: str | None = None
    text: str | None = None

    _coerce = field_validator("version", "webhook_id", mode="before")(_as_str)


class _DatabricksRegistryActed(DatabricksRegistryEvent):
    model_name: str = Field(min_length=1)


class _DatabricksVersionEvent(_DatabricksRegistryActed):
    version: str = Field(min_length=1)


DATABRICKS_ACTED = {
    "MODEL_VERSION_CREATED": _DatabricksVersionEvent,
    "MODEL_VERSION_TAG_SET": _DatabricksVersionEvent,
    "TRANSITION_REQUEST_CREATED": _DatabricksVersionEvent,
    "MODEL_VERSION_TRANSITIONED_STAGE": _DatabricksVersionEvent,
    "REGISTERED_MODEL_CREATED": _DatabricksRegistryActed,
    "COMMENT_CREATED": _DatabricksVersionEvent,
}


def databricks_event_kind(event: str) -> str | None:
    """The acted-on family of a Databricks registry event, or None if ignored.

    ``TRANSITION_REQUEST_TO_STAGING_CREATED`` and friends fold into
    ``TRANSITION_REQUEST_CREATED``; ``MODEL_VERSION_TRANSITIONED_TO_*`` into
    ``MODEL_VERSION_TRANSITIONED_STAGE``.
    """
    if event in DATABRICKS_ACTED:
        return event
    if event.startswith("TRANSITION_REQUEST_TO_") and event.endswith("_CREATED"):
        return "TRANSITION_REQUEST_CREATED"
    if event.startswith("MODEL_VERSION_TRANSITIONED_TO_"):
        return "MODEL_VERSION_TRANSITIONED_STAGE"
    return None


class JobRun(_Payload):
    """The ``run`` object of a job notification."""

    run_id: str = Field(min_length=1)
    parent_run_id: str | None = None

    _coerce = field_validator("run_id", "parent_run_id", mode="before")(_as_str)


class Job(_Payload):
    """The ``job`` object of a job notification."""

    job_id: str = Field(min_length=1)
    name: str | None = None

    _coerce = field_validator("job_id", mode="before")(_as_str)


class DatabricksJobNotification(_Payload):
    """A Databricks Jobs webhook notification (not signed: confirmed later)."""

    event_type: str = Field(min_length=1)
    workspace_id: str | None = None
    run: JobRun
    job: Job

    _coerce = field_validator("workspace_id", mode="before")(_as_str)


JOBS_ACTED = ("jobs.on_success", "jobs.on_failure")

# --- /events (Standard Webhooks) -----------------------------------------------


class EventEnvelope(_Payload):
    """Any ``/events`` message: only ``type`` is required."""

    type: str = Field(min_length=1)


class RunFinished(_Payload):
    """``run.finished``: a training run is done; govern its model."""

    type: str
    run_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    model: str | None = Field(default=None, min_length=1)


# --- parsing ----------------------------------------------------------------------


@dataclass(frozen=True)
class Intake:
    """A verified delivery, ready to be stored.

    ``payload`` is the validated payload (unknown fields kept, ids as strings);
    the raw body is what gets stored.
    """

    source: str
    type: str
    idempotency_key: str
    acted_on: bool
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def initial_status(self) -> str:
        """``queued`` for events reghook acts on, ``ignored`` otherwise."""
        return "queued" if self.acted_on else "ignored"


def _validate(model: type[_Payload], value: Any, *, where: str = "") -> dict[str, Any]:
    try:
        return model.model_validate(value).model_dump()
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(str(p) for p in ((where,) if where else ()) + tuple(err["loc"])),
             "msg": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidPayload(
            f"The payload does not match the declared shape ({len(errors)} error(s)).",
            errors=errors,
        ) from None


def _require_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidPayload("The payload must be a JSON object.", errors=[])
    return value


def parse_mlflow(body: bytes, delivery_id: str) -> Intake:
    """Parse a verified MLflow delivery."""
    envelope = _validate(MlflowEnvelope, _require_object(load_json(body)))
    event_type = f"{envelope['entity']}.{envelope['action']}"
    data_model = MLFLOW_DATA.get(event_type)
    if data_model is not None:
        # Keep the validated data: versions given as numbers come out as strings.
        envelope["data"] = _validate(data_model, envelope["data"], where="data")
    return Intake("mlflow", event_type, delivery_id, data_model is not None, envelope)


def databricks_idempotency_key(payload: dict[str, Any]) -> str:
    """sha256 of (webhook_id, event, model_name, version, event_timestamp)."""
    parts = [str(payload.get(k) or "") for k in
             ("webhook_id", "event", "model_name", "version", "event_timestamp")]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def parse_databricks(body: bytes) -> Intake:
    """Parse a verified Databricks registry webhook delivery."""
    raw = _require_object(load_json(body))
    payload = _validate(DatabricksRegistryEvent, raw)
    kind = databricks_event_kind(payload["event"])
    if kind is not None:
        payload = _validate(DATABRICKS_ACTED[kind], raw)
    return Intake("databricks", payload["event"], databricks_idempotency_key(payload),
                  kind is not None, payload)


def parse_databricks_job(body: bytes) -> Intake:
    """Parse an authenticated Databricks job notification."""
    raw = _require_object(load_json(body))
    note = _validate(DatabricksJobNotification, raw)
    key = f"{note['job']['job_id']}:{note['run']['run_id']}:{note['event_type']}"
    return Intake("databricks_jobs", note["event_type"], key,
                  note["event_type"] in JOBS_ACTED, note)


def parse_standard_event(body: bytes, msg_id: str) -> Intake:
    """Parse a verified ``/events`` message."""
    raw = _require_object(load_json(body))
    envelope = _validate(EventEnvelope, raw)
    acted = envelope["type"] == "run.finished"
    if acted:
        envelope = _validate(RunFinished, raw)
    return Intake("events", envelope["type"], msg_id, acted, envelope)
