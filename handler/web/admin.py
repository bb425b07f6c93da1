"""The admin API (``docs/admin-api.md``): events, outbox, model history, promotion, rollback.

Every route needs ``Authorization: Bearer <REGHOOK_ADMIN_TOKEN>`` (behind a
Databricks App, ``X-Reghook-Admin-Token``: see :mod:`handler.web.proxy`);
without a configured token the API does not exist (404). The registry is the worker's
business: a promotion or rollback is queued as an event, never performed here.
"""

from __future__ import annotations

import hmac
import json
import uuid
from typing import Any

from flask import Blueprint, request

from handler.errors import BadRequest, Conflict, InvalidPayload, NotFound, Unauthorized
from handler.json_body import load_json
from handler.since import SinceError, parse_since
from handler.web import proxy
from handler.web.context import web_context
from handler.web.webhooks import read_body

bp = Blueprint("admin", __name__, url_prefix="/api")
ROLLBACK_FIELDS = ("alias", "to_version", "reason")
MAX_LIMIT = 1000


@bp.before_request
def require_admin() -> None:
    """Refuse every admin call without the configured bearer token."""
    settings = web_context().settings
    token = settings.admin_token
    if token is None or not token.get_secret_value():
        raise NotFound("The admin API is disabled (REGHOOK_ADMIN_TOKEN is not set).")
    given = proxy.admin_token(request.headers, settings)
    if given is None or not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise Unauthorized(proxy.admin_token_refusal(settings))


def caller() -> str:
    """Who is calling, for the audit trail: ``api:<email>`` behind a Databricks App, else ``api``."""
    email = proxy.caller_email(request.headers, web_context().settings)
    return f"api:{email}" if email else "api"


def _limit(default: int = 50) -> int:
    try:
        return min(max(int(request.args.get("limit", default)), 1), MAX_LIMIT)
    except ValueError:
        raise BadRequest("limit must be an integer.") from None


def _arg(name: str) -> str | None:
    return request.args.get(name) or None


@bp.get("/events")
def list_events() -> Any:
    """Stored events, newest first, filtered by status, source, type and since; paged by ``before``."""
    context = web_context()
    try:
        since = parse_since(request.args.get("since"), context.now())
    except SinceError as exc:
        raise BadRequest(f"since: {exc}.") from None
    page, cursor = context.store.page_events(
        status=_arg("status"), source=_arg("source"), event_type=_arg("type"),
        since=since, limit=_limit(), before=_arg("before"))
    return {"events": page, "next": cursor}


@bp.get("/events/<event_id>")
def show_event(event_id: str) -> Any:
    """One event with its body, headers, attempts and actions."""
    found = web_context().store.get_event(event_id)
    if found is None:
        raise NotFound(f"No event {event_id}.")
    return found


@bp.post("/events/<event_id>/replay")
def replay_event(event_id: str) -> Any:
    """Queue a copy of an event for the worker."""
    context = web_context()
    new_id = context.store.replay(event_id)
    if new_id is None:
        raise NotFound(f"No event {event_id}.")
    context.stored(new_id)
    return {"event_id": new_id, "replay_of": event_id}, 202


@bp.get("/outbox")
def list_outbox() -> Any:
    """Notification messages, filtered by status, channel, model and event."""
    return {"messages": web_context().store.list_outbox(
        status=_arg("status"), channel=_arg("channel"), model=_arg("model"),
        event_id=_arg("event_id"), limit=_limit())}


@bp.get("/models/<path:name>/history")
def model_history(name: str) -> Any:
    """A model's audit trail and alias moves, newest first; paged by ``before``."""
    return web_context().store.timeline(name, limit=_limit(100), before=_arg("before"))


@bp.get("/models/<path:name>/versions")
def model_versions(name: str) -> Any:
    """A model's versions side by side: gates, run facts, status, approver, alias tenure.

    ``?version=3&version=5`` limits the answer to those versions, in that order.
    """
    return web_context().store.compare_versions(name, request.args.getlist("version") or None)


def _request_fields(fields: tuple[str, ...], refusal: str) -> dict[str, Any]:
    """The optional string ``fields`` of a JSON body (absent: None)."""
    body = read_body(web_context().settings.max_body_bytes) or b"{}"
    # The intake's parser: the same depth limit and refusal of lone surrogates.
    given = load_json(body)
    if not isinstance(given, dict) or any(
        not isinstance(given.get(k), (str, type(None))) for k in fields
    ):
        raise InvalidPayload(refusal)
    return {k: given.get(k) for k in fields}


def _rollback_request() -> dict[str, Any]:
    """The optional ``alias``, ``to_version`` and ``reason`` of a rollback body."""
    return _request_fields(ROLLBACK_FIELDS,
                           "Give alias, to_version and reason as strings (all optional).")


def _queue(model: str, event_type: str, payload: dict[str, Any]) -> Any:
    """Store a ``cli`` event for the worker; the 202 answer naming it."""
    context = web_context()
    payload.update(model=model)
    event_id, _ = context.store.ingest(
        source="cli", event_type=event_type, idempotency_key=f"api:{uuid.uuid4().hex}",
        status="queued", body=json.dumps(payload), headers={})
    context.stored(event_id)
    return {"event_id": event_id, "status": "queued"}, 202


@bp.post("/models/<path:name>/promote")
def model_promote(name: str) -> Any:
    """Queue an approval and promotion of a version, in the caller's name (or ``as``).

    Behind a Databricks App the proxy's identity is the approver: ``as`` may not differ.
    """
    given = _request_fields(("version", "as"), "Give version (and optionally as) as strings.")
    version, named = given["version"], (given["as"] or "").strip() or None
    if not version:
        raise InvalidPayload("Give the version to promote.")
    who = caller()
    if who != "api" and named not in (None, who, who.removeprefix("api:")):
        raise BadRequest(f"You are {who}: an approval cannot be made in another name.")
    verdict = web_context().store.last_verdict(name, version)
    if verdict != "passed":
        raise Conflict(f"{name} v{version} did not pass the gates "
                       f"({verdict or 'never validated'}): not promoted.")
    return _queue(name, "promote.requested",
                  {"version": version, "actor": who if who != "api" else (named or who),
                   "caller": who})


@bp.post("/models/<path:name>/rollback")
def model_rollback(name: str) -> Any:
    """Queue a rollback of a model's alias for the worker."""
    context = web_context()
    payload = _rollback_request()
    if not context.store.alias_moves(name, payload["alias"]):
        raise Conflict(f"No alias history for {name}: nothing to roll back.")
    payload.update(actor=caller())
    return _queue(name, "rollback.requested", payload)
