"""Unity Catalog's model registry as the workspace stand-in keeps it: state and rules, no HTTP.

Every method takes and returns the JSON shapes of the REST API
(``/api/2.0/mlflow/unity-catalog/*``) and raises :class:`UcError` where UC
refuses. The rules kept, each one something a client can trip over:

- names are three-level ``catalog.schema.model``, stored lower-case;
- creating an existing model is 400 ``RESOURCE_ALREADY_EXISTS``; unknown
  models, versions and aliases are 404 ``RESOURCE_DOES_NOT_EXIST``;
- a version is ``PENDING_REGISTRATION`` until finalized, then, once
  ``ready_delay_s`` has passed, ``READY`` or ``FAILED_REGISTRATION``;
- search takes exactly one condition, ``name='…'`` or ``run_id='…'``, and its
  results carry neither tags nor aliases;
- aliases are ``[{"alias": ..., "version": ...}]``, never plain strings.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

SEARCH_FILTER = re.compile(r"^\s*(name|run_id)\s*=\s*'([^']*)'\s*$")
FAILURE_MESSAGE = "Model version files could not be registered: upload verification failed."


class UcError(Exception):
    """A refusal in Databricks' JSON shape: HTTP ``status``, ``error_code`` and ``message``."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message

    def body(self) -> dict[str, str]:
        """The response body Databricks sends."""
        return {"error_code": self.error_code, "message": self.message}


def invalid(message: str) -> UcError:
    """400 ``INVALID_PARAMETER_VALUE``."""
    return UcError(400, "INVALID_PARAMETER_VALUE", message)


def missing(message: str) -> UcError:
    """404 ``RESOURCE_DOES_NOT_EXIST``."""
    return UcError(404, "RESOURCE_DOES_NOT_EXIST", message)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _tags_of(pairs: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in pairs or []}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


@dataclass
class Version:
    """One model version; its status is derived from when it was finalized."""

    name: str
    version: int
    source: str
    run_id: str
    model_id: str
    description: str
    tags: dict[str, str]
    storage_location: str
    created_ms: int = field(default_factory=_now_ms)
    updated_ms: int = field(default_factory=_now_ms)
    ready_at: float | None = None  # monotonic time the outcome shows; None until finalized
    failure: str | None = None

    def status(self) -> str:
        """``PENDING_REGISTRATION`` until finalized and the delay passed, then the outcome."""
        if self.ready_at is None or time.monotonic() < self.ready_at:
            return "PENDING_REGISTRATION"
        return "FAILED_REGISTRATION" if self.failure else "READY"


@dataclass
class Model:
    """A registered model: its versions, aliases (alias → version) and tags."""

    name: str
    description: str
    tags: dict[str, str]
    versions: dict[int, Version] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    created_ms: int = field(default_factory=_now_ms)

    def aliases_json(self, version: int | None = None) -> list[dict[str, str]]:
        """``[{"alias", "version"}]``, of one version or of all."""
        return [{"alias": a, "version": str(v)} for a, v in sorted(self.aliases.items())
                if version is None or v == version]


def full_name(name: str | None) -> str:
    """The stored (lower-case) name, or 400 for anything but ``catalog.schema.model``."""
    parts = (name or "").split(".")
    if len(parts) != 3 or not all(parts):
        raise invalid(f"Invalid name '{name}': please specify all three levels "
                      "(catalog.schema.model) of the registered model name.")
    return ".".join(parts).lower()


@dataclass
class UcRegistry:
    """The registry of one workspace; thread-safe (the stand-in serves requests in threads).

    ``ready_delay_s`` and ``fail_registration`` (``True`` or the status message)
    apply to versions finalized after they are set.
    """

    ready_delay_s: float = 0.0
    fail_registration: bool | str = False
    models: dict[str, Model] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # "/Models/c/s/m/1/MLmodel" → bytes
    lock: threading.RLock = field(default_factory=threading.RLock)

    def model(self, name: str | None) -> Model:
        """The model, or 404."""
        key = full_name(name)
        if key not in self.models:
            raise missing(f"Registered model '{key}' does not exist.")
        return self.models[key]

    def version(self, name: str | None, version: str | int | None) -> Version:
        """The version, or 404."""
        model = self.model(name)
        number = int(str(version)) if str(version).isdigit() else -1
        if number not in model.versions:
            raise missing(f"Model version '{model.name}' version '{version}' does not exist.")
        return model.versions[number]

    def model_json(self, model: Model) -> dict[str, Any]:
        """``registered_model`` as ``registered-models/get`` returns it."""
        with self.lock:  # a person may move an alias while a client reads
            return {"name": model.name, "creation_timestamp": model.created_ms,
                    "last_updated_timestamp": model.created_ms, "description": model.description,
                    "user_id": "ds@example.com", "aliases": model.aliases_json(),
                    "tags": _tag_list(model.tags)}

    def version_json(self, v: Version, *, searched: bool = False) -> dict[str, Any]:
        """``model_version`` as ``get`` returns it; as ``search`` does (no tags, no aliases)."""
        body: dict[str, Any] = {
            "name": v.name, "version": str(v.version), "source": v.source, "run_id": v.run_id,
            "model_id": v.model_id, "description": v.description, "status": v.status(),
            "storage_location": v.storage_location, "user_id": "ds@example.com",
            "creation_timestamp": v.created_ms, "last_updated_timestamp": v.updated_ms}
        if v.status() == "FAILED_REGISTRATION":
            body["status_message"] = v.failure
        if not searched:
            with self.lock:
                body["aliases"] = self.models[v.name].aliases_json(v.version)
                body["tags"] = _tag_list(v.tags)
        return body

    def create_model(self, body: dict[str, Any]) -> dict[str, Any]:
        """``registered-models/create``."""
        key = full_name(body.get("name"))
        with self.lock:
            if key in self.models:
                raise UcError(400, "RESOURCE_ALREADY_EXISTS", f"Registered model '{key}' already exists.")
            self.models[key] = Model(key, body.get("description", ""), _tags_of(body.get("tags")))
            return self.model_json(self.models[key])

    def create_version(self, body: dict[str, Any]) -> dict[str, Any]:
        """``model-versions/create``: a new ``PENDING_REGISTRATION`` version."""
        with self.lock:
            model = self.model(body.get("name"))
            number = max(model.versions, default=0) + 1
            model.versions[number] = Version(
                model.name, number, body.get("source", ""), body.get("run_id", ""),
                body.get("model_id", ""), body.get("description", ""), _tags_of(body.get("tags")),
                f"s3://uc-stand-in/models/{uuid.uuid4()}/versions/{uuid.uuid4()}")
            return self.version_json(model.versions[number])

    def finalize(self, name: str, version: str) -> dict[str, Any]:
        """``model-versions/finalize``: the outcome shows once ``ready_delay_s`` has passed."""
        with self.lock:
            v = self.version(name, version)
            if v.ready_at is None:
                failure = self.fail_registration
                v.failure = (failure if isinstance(failure, str) else FAILURE_MESSAGE) if failure else None
                v.ready_at = time.monotonic() + self.ready_delay_s
                v.updated_ms = _now_ms()
            return self.version_json(v)

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> dict[str, Any]:
        """``model-versions/set-tag``."""
        with self.lock:
            v = self.version(name, version)
            v.tags[key] = value
            v.updated_ms = _now_ms()
            return {}

    def delete_version_tag(self, name: str, version: str, key: str) -> dict[str, Any]:
        """``model-versions/delete-tag`` (404 for a tag that is not there)."""
        with self.lock:
            v = self.version(name, version)
            if v.tags.pop(key, None) is None:
                raise missing(f"Tag '{key}' does not exist on '{name}' version {version}.")
            return {}

    def delete_version(self, name: str, version: str) -> dict[str, Any]:
        """``model-versions/delete``: its aliases go with it."""
        with self.lock:
            v = self.version(name, version)
            model = self.models[v.name]
            del model.versions[v.version]
            model.aliases = {a: n for a, n in model.aliases.items() if n != v.version}
            return {}

    def delete_model(self, name: str) -> dict[str, Any]:
        """``registered-models/delete``: the model with all its versions, as UC does."""
        with self.lock:
            del self.models[self.model(name).name]
            return {}

    def set_alias(self, name: str, alias: str, version: str) -> dict[str, Any]:
        """``registered-models/alias`` POST: moves the alias if it exists."""
        with self.lock:
            v = self.version(name, version)
            self.models[v.name].aliases[alias] = v.version
            return {}

    def delete_alias(self, name: str, alias: str) -> dict[str, Any]:
        """``registered-models/alias`` DELETE (404 for an unknown alias)."""
        with self.lock:
            if self.model(name).aliases.pop(alias, None) is None:
                raise missing(f"Alias '{alias}' does not exist on registered model '{name}'.")
            return {}

    def version_by_alias(self, name: str, alias: str) -> dict[str, Any]:
        """``registered-models/alias`` GET."""
        with self.lock:
            model = self.model(name)
            if alias not in model.aliases:
                raise missing(f"Alias '{alias}' does not exist on registered model '{model.name}'.")
            return self.version_json(model.versions[model.aliases[alias]])

    def search_versions(self, filter_string: str | None, max_results: int,
                        page_token: str | None) -> dict[str, Any]:
        """``model-versions/search``: one condition, newest first, paged."""
        match = SEARCH_FILTER.match(filter_string or "")
        if not match:
            raise invalid(f"Unsupported filter '{filter_string}': exactly one condition, "
                          "name='<name>' or run_id='<run id>', is supported.")
        field_name, wanted = match.groups()
        with self.lock:
            found = [v for m in self.models.values() for v in m.versions.values()
                     if (m.name == wanted.lower() if field_name == "name" else v.run_id == wanted)]
            found.sort(key=lambda v: (v.name, -v.version))
            return _page("model_versions", [self.version_json(v, searched=True) for v in found],
                         max_results, page_token)

    def search_models(self, max_results: int, page_token: str | None) -> dict[str, Any]:
        """``registered-models/search`` (no filter, no order: the client refuses both)."""
        with self.lock:
            models = [{k: self.model_json(m)[k] for k in ("name", "creation_timestamp",
                                                          "last_updated_timestamp", "description")}
                      for _, m in sorted(self.models.items())]
        return _page("registered_models", models, max_results, page_token)

    def storage_prefix(self, name: str, version: str | int) -> str:
        """The files-API folder of a version (where the client uploads its files)."""
        v = self.version(name, version)
        catalog, schema, model = v.name.split(".")
        return f"/Models/{catalog}/{schema}/{model}/{v.version}"

    def list_directory(self, path: str) -> list[dict[str, Any]]:
        """``fs/directories``: the direct children of ``path`` (404 ``NOT_FOUND`` if none)."""
        prefix = path.rstrip("/") + "/"
        entries: dict[str, dict[str, Any]] = {}
        with self.lock:
            for stored, data in self.files.items():
                if stored.startswith(prefix):
                    head, _, rest = stored[len(prefix):].partition("/")
                    child = prefix + head
                    entries[child] = ({"path": child, "is_directory": True, "name": head} if rest else
                                      {"path": child, "is_directory": False, "name": head,
                                       "file_size": len(data)})
        if not entries:
            raise UcError(404, "NOT_FOUND", f"The directory '{path}' does not exist.")
        return [entries[k] for k in sorted(entries)]


def _page(key: str, items: list[dict[str, Any]], max_results: int,
          page_token: str | None) -> dict[str, Any]:
    """One page of ``items``; the token is an opaque encoded offset, as a client must treat it."""
    try:
        start = int(base64.urlsafe_b64decode(page_token).decode()) if page_token else 0
    except ValueError as e:
        raise invalid(f"Invalid page token '{page_token}'.") from e
    end = start + max(1, max_results)
    page: dict[str, Any] = {key: items[start:end]}
    if end < len(items):
        page["next_page_token"] = base64.urlsafe_b64encode(str(end).encode()).decode()
    return page
