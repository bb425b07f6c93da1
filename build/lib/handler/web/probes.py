"""Probes for the platform: ``/healthz``, ``/readyz`` and ``/metrics`` (``docs/routes.md``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from handler import metrics
from handler.logs import get_logger
from handler.web.context import web_context

bp = Blueprint("probes", __name__)
log = get_logger("web")


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness: the process answers."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> Any:
    """Readiness: the event store answers too."""
    try:
        web_context().store.ping()
    except Exception as exc:  # noqa: BLE001 - any store failure means "not ready"
        log.warning("store_unreachable", error=type(exc).__name__)
        return {"status": "unavailable", "detail": "The event store is unreachable."}, 503
    return {"status": "ok"}


@bp.get("/metrics")
def prometheus() -> Any:
    """The Prometheus exposition of this process (or of all gunicorn workers)."""
    payload, content_type = metrics.render()
    return Response(payload, content_type=content_type)
