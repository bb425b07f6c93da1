"""Console pages about events: the list, one event with its replay button, and the failures."""

from __future__ import annotations

import json
from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from handler.errors import BadRequest, Conflict
from handler.since import SinceError, parse_since
from handler.web.console import bp
from handler.web.console.auth import check_csrf
from handler.web.context import web_context

PAGE = 50
STATUSES = ("queued", "processing", "done", "ignored", "failed", "rejected")
SOURCES = ("mlflow", "databricks", "databricks_jobs", "events", "watch", "sweep", "cli", "replay")
# The store keeps no signature or credential header; the console hides any
# header that looks like one anyway, in case a sender invents a new name.
HIDDEN_HEADER_WORDS = ("signature", "authorization", "token", "secret", "cookie", "password")


@bp.errorhandler(HTTPException)
def _error_page(exc: HTTPException) -> Any:
    return render_template("console/error.html", error=exc), exc.code or 500


@bp.get("/")
def home() -> Any:
    """The console opens on the event list."""
    return redirect(url_for("console.events"))


@bp.get("/events")
def events() -> Any:
    """Stored events newest first, filtered by status, source, type and since; a page at a time."""
    context = web_context()
    filters = {k: (request.args.get(k) or "").strip() for k in ("status", "source", "type", "since")}
    problem = None
    try:
        since = parse_since(filters["since"] or None, context.now())
    except SinceError as exc:
        since, problem = None, f"since: {exc}"

    def page(before: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return context.store.page_events(
            status=filters["status"] or None, source=filters["source"] or None,
            event_type=filters["type"] or None, since=since, before=before, limit=PAGE)

    before = request.args.get("before") or None
    try:
        rows, next_cursor = page(before)
    except BadRequest as exc:  # a cursor naming no event: say so, show the newest
        problem, before = exc.detail, None
        rows, next_cursor = page(None)
    return render_template("console/events.html", rows=rows, filters=filters, problem=problem,
                           active={k: v for k, v in filters.items() if v},
                           statuses=STATUSES, sources=SOURCES, next_cursor=next_cursor,
                           first_page=before is None)


def shown_headers(headers: dict[str, str]) -> dict[str, str]:
    """The headers a person may see: nothing that looks like a signature or a credential."""
    return {k: v for k, v in headers.items()
            if not any(word in k.lower() for word in HIDDEN_HEADER_WORDS)}


def pretty_body(body: str) -> str:
    """A JSON body indented for reading; anything else as it came."""
    try:
        return json.dumps(json.loads(body), indent=2, sort_keys=True)
    except ValueError:
        return body


@bp.get("/events/<event_id>")
def event(event_id: str) -> Any:
    """One event: what came in, each attempt, the decisions it caused, and a replay button."""
    found = web_context().store.get_event(event_id)
    if found is None:
        return render_template("console/error.html", error=None,
                               message=f"No event {event_id}."), 404
    return render_template("console/event.html", event=found, body=pretty_body(found["body"]),
                           headers=shown_headers(found["headers"]),
                           replayable=found["status"] != "rejected")


@bp.post("/events/<event_id>/replay")
def replay(event_id: str) -> Any:
    """Queue a copy of the event (``replay_of`` links it) and show the copy."""
    check_csrf()
    context = web_context()
    try:
        new_id = context.store.replay(event_id)
    except Conflict as exc:
        return render_template("console/error.html", error=None, message=exc.detail), 409
    if new_id is None:
        return render_template("console/error.html", error=None,
                               message=f"No event {event_id}."), 404
    context.stored(new_id)
    return redirect(url_for("console.event", event_id=new_id), code=303)


@bp.get("/failures")
def failures() -> Any:
    """What needs someone: failed events and notifications that could not be sent."""
    store = web_context().store
    failed = store.list_events(status="failed", limit=200)
    return render_template("console/failures.html", events=failed,
                           messages=store.list_outbox(status="failed", limit=200))
