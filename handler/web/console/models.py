"""Console pages about models: who holds which alias, the versions compared, the timeline."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import redirect, render_template, request, session, url_for

from handler.store.comparison import rows
from handler.web.console import bp
from handler.web.console.auth import check_csrf
from handler.web.context import web_context

# Newest versions first on the page: a model with a long history stays readable
# on a laptop. `reghook compare MODEL V…` shows any others.
SHOWN_VERSIONS = 6
# The timeline and the alias moves are read a page at a time, newest first, by
# index (Store.timeline): a model with years of history opens as fast as a new one.
TIMELINE_PAGE = 100


@bp.get("/models")
def models() -> Any:
    """Every model the audit trail names."""
    return render_template("console/models.html", models=web_context().store.governed_models())


@bp.get("/models/<path:name>")
def model(name: str) -> Any:
    """Alias holders, the comparison of recent versions, the audit timeline and alias moves."""
    store = web_context().store
    comparison = store.compare_versions(name, request.args.getlist("version") or None)
    versions = comparison["versions"]
    if not request.args.getlist("version"):
        versions = versions[-SHOWN_VERSIONS:]
    page = store.timeline(name, limit=TIMELINE_PAGE, before=request.args.get("before"))
    return render_template("console/model.html", name=name, aliases=comparison["aliases"],
                           versions=versions, table=rows(versions), timeline=page["entries"],
                           moves=page["aliases"], older=page["next"],
                           hidden=len(comparison["versions"]) - len(versions), json=json)


@bp.post("/models/<path:name>/rollback")
def rollback(name: str) -> Any:
    """Queue a rollback of the protected alias for the worker, then show its event."""
    check_csrf()
    context = web_context()
    reason = (request.form.get("reason") or "").strip()[:500] or "rollback from the console"
    if not context.store.alias_moves(name):
        return render_template("console/error.html", error=None,
                               message=f"No alias history for {name}: nothing to roll back."), 409
    body = {"model": name, "alias": None, "to_version": None, "reason": reason,
            "actor": session.get("who") or "console"}
    event_id, _ = context.store.ingest(
        source="cli", event_type="rollback.requested",
        idempotency_key=f"console:{uuid.uuid4().hex}", status="queued", body=json.dumps(body),
        headers={})
    context.stored(event_id)
    return redirect(url_for("console.event", event_id=event_id), code=303)
