"""A Databricks workspace stand-in: a real HTTP server on 127.0.0.1 for unpatched clients.

MLflow's Unity Catalog registry client (``registry_uri="databricks-uc"``) and
databricks-sdk talk to it as to a workspace: point ``DATABRICKS_HOST`` at
``.url`` and ``DATABRICKS_TOKEN`` at ``.token`` (see :meth:`UcWorkspace.env`).
It serves the UC registry (rules in :mod:`tests.support.uc_registry`), the
files API and presigned URLs that version files travel through, Jobs
``runs/get`` and the legacy registry-webhooks ``create``. Every request is
recorded in ``.requests``; the helpers act as a person in the UI would.

    with uc_workspace(ready_delay_s=2) as ws:
        monkeypatch.setenv("DATABRICKS_HOST", ws.url) ...
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.support.uc_registry import UcError, UcRegistry, invalid, missing

UC = "/api/2.0/mlflow/unity-catalog/"
DIRECTORIES = "/api/2.0/fs/directories"
PRESIGNED = "/presigned/"
# A presigned PUT must carry the headers the upload URL came with, as on S3.
UPLOAD_HEADER = {"name": "x-amz-server-side-encryption", "value": "AES256"}
UNAUTHENTICATED = UcError(401, "UNAUTHENTICATED",
                          "Credential was not sent or was of an unsupported type for this API.")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in received it, and the status and JSON it answered."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    status: int
    answer: Any


class UcWorkspace:
    """The workspace: a WSGI app over a :class:`UcRegistry`, job runs and webhooks."""

    def __init__(self, *, token: str, ready_delay_s: float, fail_registration: bool | str,
                 workspace_id: str) -> None:
        self.token, self.workspace_id, self.url = token, workspace_id, ""
        self.registry = UcRegistry(ready_delay_s=ready_delay_s, fail_registration=fail_registration)
        self.requests: list[RecordedRequest] = []
        self.job_runs: dict[str, dict[str, Any]] = {}  # run id → the runs/get body
        self.webhooks: list[dict[str, Any]] = []  # bodies of registry-webhooks/create
        self._presigned: dict[str, tuple[str, str]] = {}  # token → (method, files-API path)
        self._routes = self._route_table()

    # -- knobs a test may turn mid-test -------------------------------------------------------

    @property
    def ready_delay_s(self) -> float:
        """Seconds a finalized version stays ``PENDING_REGISTRATION``."""
        return self.registry.ready_delay_s

    @ready_delay_s.setter
    def ready_delay_s(self, seconds: float) -> None:
        self.registry.ready_delay_s = seconds

    @property
    def fail_registration(self) -> bool | str:
        """Finalized versions end ``FAILED_REGISTRATION`` (a string is the status message)."""
        return self.registry.fail_registration

    @fail_registration.setter
    def fail_registration(self, failure: bool | str) -> None:
        self.registry.fail_registration = failure

    def env(self) -> dict[str, str]:
        """The variables that point databricks-sdk (and MLflow through it) here."""
        return {"DATABRICKS_HOST": self.url, "DATABRICKS_TOKEN": self.token}

    # -- a person in the UI, and what a test inspects ------------------------------------------

    def set_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point ``alias`` at a version, as someone in Catalog Explorer would."""
        self.registry.set_alias(name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias by hand."""
        self.registry.delete_alias(name, alias)

    def set_tag(self, name: str, version: str | int, key: str, value: str) -> None:
        """Set a version tag by hand."""
        self.registry.set_version_tag(name, str(version), key, value)

    def register_by_hand(self, name: str, files: dict[str, bytes] | None = None, *, run_id: str = "",
                         source: str = "", tags: dict[str, str] | None = None) -> str:
        """Register a version outside reghook (creating the model if needed); its number.

        It goes through the same states and knobs as one registered over the API.
        """
        if name.lower() not in self.registry.models:
            self.registry.create_model({"name": name})
        created = self.registry.create_version(
            {"name": name, "source": source or f"dbfs:/by-hand/{uuid.uuid4().hex}", "run_id": run_id,
             "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]})
        prefix = self.registry.storage_prefix(name, created["version"])
        for relative, data in (files or {"MLmodel": b"flavors: {}\n"}).items():
            self.registry.files[f"{prefix}/{relative}"] = data
        self.registry.finalize(name, created["version"])
        return str(created["version"])

    def model(self, name: str) -> dict[str, Any]:
        """The registered model as ``registered-models/get`` returns it."""
        return self.registry.model_json(self.registry.model(name))

    def version(self, name: str, version: str | int) -> dict[str, Any]:
        """The version as ``model-versions/get`` returns it."""
        return self.registry.version_json(self.registry.version(name, version))

    def files_of(self, name: str, version: str | int) -> dict[str, bytes]:
        """The files uploaded for a version, by path relative to the version."""
        prefix = self.registry.storage_prefix(name, version) + "/"
        return {p.removeprefix(prefix): d for p, d in self.registry.files.items()
                if p.startswith(prefix)}

    def requests_to(self, path_end: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path ends with ``path_end`` (and of ``method``, if given)."""
        return [r for r in self.requests
                if r.path.endswith(path_end) and (method is None or r.method == method)]

    def add_job_run(self, run_id: int, job_id: int, *, result_state: str | None = "SUCCESS",
                    life_cycle_state: str = "TERMINATED", task_run_ids: tuple[int, ...] = ()) -> None:
        """A job run as ``GET /api/2.2/jobs/runs/get`` answers it (ids are numbers there)."""
        state: dict[str, Any] = {"life_cycle_state": life_cycle_state}
        if result_state:
            state["result_state"] = result_state
        self.job_runs[str(run_id)] = {
            "job_id": job_id, "run_id": run_id, "run_name": "train churn", "state": state,
            "tasks": [{"run_id": t, "task_key": f"task_{i}", "state": state}
                      for i, t in enumerate(task_run_ids)]}

    # -- HTTP ----------------------------------------------------------------------------------

    def _route_table(self) -> dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]]:
        r = self.registry
        return {
            ("GET", "/.well-known/databricks-config"): lambda a: {"workspace_id": self.workspace_id},
            ("GET", UC + "registered-models:is-databricks-sdk-models-artifact-repository-enabled"):
                lambda a: {"is_databricks_sdk_models_artifact_repository_enabled": False},
            ("POST", UC + "registered-models/create"): lambda a: {"registered_model": r.create_model(a)},
            ("GET", UC + "registered-models/get"):
                lambda a: {"registered_model": r.model_json(r.model(a.get("name")))},
            ("DELETE", UC + "registered-models/delete"): lambda a: r.delete_model(a["name"]),
            ("GET", UC + "registered-models/search"):
                lambda a: r.search_models(int(a.get("max_results", 100)), a.get("page_token")),
            ("POST", UC + "registered-models/alias"):
                lambda a: r.set_alias(a["name"], a["alias"], a["version"]),
            ("GET", UC + "registered-models/alias"):
                lambda a: {"model_version": r.version_by_alias(a["name"], a["alias"])},
            ("DELETE", UC + "registered-models/alias"):
                lambda a: r.delete_alias(a["name"], a["alias"]),
            ("POST", UC + "model-versions/create"): lambda a: {"model_version": r.create_version(a)},
            ("POST", UC + "model-versions/generate-temporary-credentials"): self._credentials,
            ("POST", UC + "model-versions/finalize"):
                lambda a: {"model_version": r.finalize(a["name"], a["version"])},
            ("GET", UC + "model-versions/get"):
                lambda a: {"model_version": r.version_json(r.version(a.get("name"), a.get("version")))},
            ("GET", UC + "model-versions/get-download-uri"):
                lambda a: {"artifact_uri": r.version(a["name"], a["version"]).storage_location},
            ("DELETE", UC + "model-versions/delete"):
                lambda a: r.delete_version(a["name"], a["version"]),
            ("POST", UC + "model-versions/set-tag"):
                lambda a: r.set_version_tag(a["name"], a["version"], a["key"], a["value"]),
            ("DELETE", UC + "model-versions/delete-tag"):
                lambda a: r.delete_version_tag(a["name"], a["version"], a["key"]),
            ("GET", UC + "model-versions/search"):
                lambda a: r.search_versions(a.get("filter"), int(a.get("max_results", 10000)),
                                            a.get("page_token")),
            ("POST", "/api/2.0/fs/create-upload-url"): lambda a: self._presign("PUT", a["path"]),
            ("POST", "/api/2.0/fs/create-download-url"): lambda a: self._presign("GET", a["path"]),
            ("GET", "/api/2.2/jobs/runs/get"): self._job_run,
            ("POST", "/api/2.0/mlflow/registry-webhooks/create"): self._create_webhook,
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """WSGI entry: record, authenticate, route; refusals in Databricks' JSON shape."""
        request = Request(environ)
        body = request.get_json(force=True, silent=True) if request.method != "PUT" else None
        try:
            response = self._respond(request, body if isinstance(body, dict) else {})
        except UcError as e:
            response = Response(json.dumps(e.body()), e.status, mimetype="application/json")
        except (KeyError, ValueError) as e:  # a missing field, or max_results that is no number
            error = invalid(f"Missing or malformed field: {e}")
            response = Response(json.dumps(error.body()), 400, mimetype="application/json")
        response.headers["X-Databricks-Org-Id"] = self.workspace_id
        answer = response.get_json() if response.is_json else None
        self.requests.append(RecordedRequest(request.method, request.path, request.args.to_dict(),
                                             body, dict(request.headers), response.status_code, answer))
        return response(environ, start_response)

    def _respond(self, request: Request, body: dict[str, Any]) -> Response:
        path = request.path
        if path.startswith(PRESIGNED):
            return self._transfer(request)
        if path != "/.well-known/databricks-config" and \
                request.headers.get("Authorization") != f"Bearer {self.token}":
            raise UNAUTHENTICATED
        args = {**request.args.to_dict(), **body}
        if path.startswith(DIRECTORIES) and request.method == "GET":
            answer: dict[str, Any] = {"contents": self.registry.list_directory(path[len(DIRECTORIES):])}
        elif (request.method, path) in self._routes:
            answer = self._routes[(request.method, path)](args)
        elif path.startswith(UC) and ("stage" in path or "latest-versions" in path):
            raise invalid("Stages are not supported for models in Unity Catalog; use aliases.")
        else:
            raise UcError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{request.method} {path}'")
        return Response(json.dumps(answer), 200, mimetype="application/json")

    def _credentials(self, args: dict[str, Any]) -> dict[str, Any]:
        self.registry.version(args["name"], args["version"])
        return {"credentials": {"storage_mode": "DEFAULT_STORAGE",
                                "expiration_time": int(time.time() * 1000) + 3_600_000}}

    def _presign(self, method: str, path: str) -> dict[str, Any]:
        """A one-file URL on this server; uploads only while the version is not finalized."""
        parts = path.split("/")  # "", "Models", catalog, schema, model, version, file...
        if len(parts) < 7 or parts[1] != "Models":
            raise invalid(f"Path '{path}' is not in a model version's storage.")
        version = self.registry.version(".".join(parts[2:5]), parts[5])
        if method == "PUT" and version.ready_at is not None:
            raise invalid(f"Model version {version.name}/{version.version} is finalized: read-only.")
        if method == "GET" and path not in self.registry.files:
            raise UcError(404, "NOT_FOUND", f"The file '{path}' does not exist.")
        token = uuid.uuid4().hex
        self._presigned[token] = (method, path)
        return {"url": f"{self.url}{PRESIGNED}{token}",
                "headers": [UPLOAD_HEADER] if method == "PUT" else []}

    def _transfer(self, request: Request) -> Response:
        """A presigned PUT stores the bytes; a presigned GET returns them (no bearer token)."""
        method, path = self._presigned.get(request.path[len(PRESIGNED):], ("", ""))
        if method != request.method:
            return Response("<Error><Code>AccessDenied</Code></Error>", 403, mimetype="application/xml")
        if method == "GET":
            return Response(self.registry.files[path], 200, mimetype="application/octet-stream")
        if request.headers.get(UPLOAD_HEADER["name"]) != UPLOAD_HEADER["value"]:
            return Response("<Error><Code>SignatureDoesNotMatch</Code></Error>", 403,
                            mimetype="application/xml")
        with self.registry.lock:
            self.registry.files[path] = request.get_data()
        return Response("", 200)

    def _job_run(self, args: dict[str, Any]) -> dict[str, Any]:
        run_id = str(args["run_id"])
        if run_id not in self.job_runs:
            raise missing(f"Run {run_id} does not exist.")
        return self.job_runs[run_id]

    def _create_webhook(self, args: dict[str, Any]) -> dict[str, Any]:
        self.webhooks.append(args)
        shown = {k: args[k] for k in ("events", "model_name", "description", "status") if k in args}
        return {"webhook": {"id": uuid.uuid4().hex, **shown,
                            "creation_timestamp": int(time.time() * 1000)}}


class _QuietHandler(WSGIRequestHandler):
    """No access log: ``.requests`` records everything a test needs."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Do not log."""


@contextmanager
def uc_workspace(*, token: str = "dapi-uc-stand-in", ready_delay_s: float = 0.0,
                 fail_registration: bool | str = False,
                 workspace_id: str = "1234567890") -> Iterator[UcWorkspace]:
    """Serve a fresh workspace on a free port of 127.0.0.1 for the ``with`` block."""
    workspace = UcWorkspace(token=token, ready_delay_s=ready_delay_s,
                            fail_registration=fail_registration, workspace_id=workspace_id)
    server = make_server("127.0.0.1", 0, workspace, threaded=True, request_handler=_QuietHandler)
    workspace.url = f"http://127.0.0.1:{server.server_port}"
    # A short poll interval: shutdown() waits for the loop's next poll.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="uc-workspace", daemon=True)
    thread.start()
    try:
        yield workspace
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
