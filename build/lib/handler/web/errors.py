"""Error answers: every error is JSON, and caller input never causes a 5xx."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException

from handler.errors import IntakeError
from handler.logs import get_logger

log = get_logger("web")


def intake_error(exc: IntakeError) -> Any:
    """A caller's mistake, answered with the status and code the error class decides."""
    return exc.to_json(), exc.status


def http_error(exc: HTTPException) -> Any:
    """Werkzeug's own answers (404 for an unknown path, 405...) as JSON."""
    code = (exc.name or "error").lower().replace(" ", "_")
    return {"error": code, "detail": exc.description}, exc.code or 500


def unexpected(exc: Exception) -> Any:
    """Anything else is our fault (or the store's), never the caller's input."""
    # Say so without leaking internals; 503 lets senders retry the delivery.
    log.exception("unhandled_error", error=type(exc).__name__)
    return {"error": "unavailable", "detail": "reghook could not store the event; retry later."}, 503


def register_error_handlers(app: Flask) -> None:
    """Answer every error of ``app`` as ``{"error": code, "detail": ...}``."""
    app.register_error_handler(IntakeError, intake_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected)
