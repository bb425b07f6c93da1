"""The web app: routes only. Raw body in, one call into a use case, JSON out.

Must stay light: serving requests never imports ``mlflow`` or
``databricks.sdk`` (a test checks this from a fresh interpreter). Anything
that needs the registry (rollback) is queued as an event for the worker.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from handler import metrics
from handler.errors import (
    BadRequest,
    BodyTooLarge,
    Conflict,
    IntakeError,
    InvalidPayload,
    MalformedJson,
    NotFound,
    Unauthorized,
)
from handler.intake import Intake
from handler.logs import configure as configure_logs
from handler.logs import get_logger
from handler.settings import Settings
from handler.store import Store

ROUTES = {
    "/webhooks/mlflow": "mlflow",
    "/webhooks/databricks": "databricks",
    "/webhooks/databricks-jobs": "databricks_jobs",
    "/events": "events",
}

log = get_logger("web")


def read_body(limit: int) -> bytes:
    """Read the raw body, refusing more than ``limit`` bytes even when chunked.

    Flask's MAX_CONTENT_LENGTH does not turn an over-long chunked body into a
    413 under gunicorn (it is cut and accepted), so read limit+1 bytes here.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(f"The body is {declared} bytes; the limit is {limit}.")
    stream = request.stream
    chunks: list[bytes] = []
    remaining = limit + 1
    try:
        while remaining > 0:
            chunk = stream.read(remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError:
        # gunicorn raises IOError subclasses (InvalidChunkSize, NoMoreData...)
        # for a broken chunked body or a sender that hangs up: its fault, not ours.
        raise BadRequest("The body could not be read (broken chunked encoding?).") from None
    body = b"".join(chunks)
    if len(body) > limit:
        raise BodyTooLarge(f"The body exceeds the limit of {limit} bytes.")
    return body


def _parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("since must be an ISO 8601 time.") from None


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    *,
    on_stored: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> Flask:
    """Build the web app. Tests pass settings and a store; production reads the env."""
    settings = settings or Settings()
    configure_logs(settings.log_level)
    store = store or Store.from_url(settings.database_url)
    intake = Intake(settings, store, clock=clock, on_stored=on_stored)
    app = Flask("reghook")
    app.config["REGHOOK_STORE"] = store

    def receive(source: str) -> Response:
        event_type = "unknown"
        try:
            body = read_body(settings.max_body_bytes)
            receipt = intake.receive(source, body, request.headers)  # type: ignore[arg-type]
        except IntakeError as exc:
            metrics.DELIVERIES.labels(source, event_type, exc.code).inc()
            raise
        # Types reghook ignores are labelled "other": a sender must not be able
        # to create unbounded metric series.
        label = receipt.event_type if receipt.status != "ignored" else "other"
        metrics.DELIVERIES.labels(source, label, receipt.status).inc()
        # A literal body: jsonify's provider machinery is a visible share of
        # an intake's cost, and this answer never varies in shape.
        body_out = f'{{"event_id":"{receipt.event_id}","status":"{receipt.status}"}}\n'
        return Response(body_out, status=receipt.http_status, mimetype="application/json")

    for path, source in ROUTES.items():
        app.add_url_rule(path, f"receive_{source}", lambda s=source: receive(s), methods=["POST"])

    def require_admin() -> None:
        token = settings.admin_token
        if token is None or not token.get_secret_value():
            raise NotFound("The admin API is disabled (REGHOOK_ADMIN_TOKEN is not set).")
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.get_secret_value().encode()
        ):
            raise Unauthorized("A valid bearer token is required.")

    @app.get("/api/events")
    def list_events() -> Any:
        require_admin()
        try:
            limit = min(max(int(request.args.get("limit", 50)), 1), 1000)
        except ValueError:
            raise BadRequest("limit must be an integer.") from None
        return {"events": store.list_events(
            status=request.args.get("status") or None,
            source=request.args.get("source") or None,
            event_type=request.args.get("type") or None,
            since=_parse_since(request.args.get("since")), limit=limit)}

    @app.get("/api/events/<event_id>")
    def show_event(event_id: str) -> Any:
        require_admin()
        found = store.get_event(event_id)
        if found is None:
            raise NotFound(f"No event {event_id}.")
        return found

    @app.post("/api/events/<event_id>/replay")
    def replay_event(event_id: str) -> Any:
        require_admin()
        new_id = store.replay(event_id)
        if new_id is None:
            raise NotFound(f"No event {event_id}.")
        if on_stored is not None:
            on_stored(new_id)
        return {"event_id": new_id, "replay_of": event_id}, 202

    @app.get("/api/outbox")
    def list_outbox() -> Any:
        require_admin()
        try:
            limit = min(max(int(request.args.get("limit", 50)), 1), 1000)
        except ValueError:
            raise BadRequest("limit must be an integer.") from None
        return {"messages": store.list_outbox(
            status=request.args.get("status") or None,
            channel=request.args.get("channel") or None,
            model=request.args.get("model") or None,
            event_id=request.args.get("event_id") or None, limit=limit)}

    @app.get("/api/models/<path:name>/history")
    def model_history(name: str) -> Any:
        require_admin()
        return {"model": name, "entries": store.audit_trail(name),
                "aliases": store.alias_moves(name)}

    @app.post("/api/models/<path:name>/rollback")
    def model_rollback(name: str) -> Any:
        require_admin()
        body = read_body(settings.max_body_bytes) or b"{}"
        try:
            request_json = json.loads(body)
        except ValueError:
            raise MalformedJson("The body must be a JSON object.") from None
        if not isinstance(request_json, dict) or any(
            not isinstance(request_json.get(k), (str, type(None)))
            for k in ("alias", "to_version", "reason")
        ):
            raise InvalidPayload("Give alias, to_version and reason as strings (all optional).")
        if not store.alias_moves(name, request_json.get("alias")):
            raise Conflict(f"No alias history for {name}: nothing to roll back.")
        # The registry is the worker's business: queue the rollback for it.
        payload = {k: request_json.get(k) for k in ("alias", "to_version", "reason")}
        payload.update(model=name, actor="api")
        event_id, _ = store.ingest(source="cli", event_type="rollback.requested",
                                   idempotency_key=f"api:{uuid.uuid4().hex}", status="queued",
                                   body=json.dumps(payload), headers={})
        if on_stored is not None:
            on_stored(event_id)
        return {"event_id": event_id, "status": "queued"}, 202

    @app.get("/healthz")
    def healthz() -> Any:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> Any:
        try:
            store.ping()
        except Exception as exc:  # noqa: BLE001 - any store failure means "not ready"
            log.warning("store_unreachable", error=type(exc).__name__)
            return {"status": "unavailable", "detail": "The event store is unreachable."}, 503
        return {"status": "ok"}

    @app.get("/metrics")
    def prometheus() -> Any:
        payload, content_type = metrics.render()
        return Response(payload, content_type=content_type)

    @app.errorhandler(IntakeError)
    def intake_error(exc: IntakeError) -> Any:
        return exc.to_json(), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        code = (exc.name or "error").lower().replace(" ", "_")
        return {"error": code, "detail": exc.description}, exc.code or 500

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        # Our own fault (or the store's), never the caller's input: say so
        # without leaking internals. 503 lets senders retry the delivery.
        log.exception("unhandled_error", error=type(exc).__name__)
        return {"error": "unavailable", "detail": "reghook could not store the event; retry later."}, 503

    return app
