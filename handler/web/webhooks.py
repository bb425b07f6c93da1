"""Intake routes, one per :data:`handler.sources.SOURCES` entry: raw body in, receipt out.

Each source is served at its path and again under ``/api/v1`` (the only
paths a Databricks App's proxy forwards to token-carrying callers); both
run the same view, so checks and answers are the same (docs/routes.md).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from handler import metrics
from handler.errors import BadRequest, BodyTooLarge, IntakeError
from handler.sources import SOURCES
from handler.web.context import web_context
from handler.web.deadline import DEADLINES
from handler.web.proxy import intake_headers

bp = Blueprint("webhooks", __name__)
# Seconds a sender has to deliver a whole body once its headers are read: a
# webhook body is a few KiB, sent at once (docs/routes.md).
BODY_DEADLINE_S = 10.0


def read_body(limit: int, deadline_s: float = BODY_DEADLINE_S) -> bytes:
    """Read the raw body, refusing more than ``limit`` bytes even when chunked.

    Flask's MAX_CONTENT_LENGTH does not turn an over-long chunked body into a
    413 under gunicorn (it is cut and accepted), so read limit+1 bytes here.
    A body not complete within ``deadline_s`` is a 400 (:mod:`handler.web.deadline`).
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(f"The body is {declared} bytes; the limit is {limit}.")
    chunks: list[bytes] = []
    remaining = limit + 1
    try:
        with DEADLINES.bounded(request.environ.get("gunicorn.socket"), deadline_s):
            while remaining > 0:
                chunk = request.stream.read(remaining)
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
    except OSError:
        # gunicorn raises IOError subclasses (InvalidChunkSize, NoMoreData...)
        # for a broken chunked body, a sender that hangs up or one cut off by
        # the deadline: its fault, not ours.
        raise BadRequest("The body could not be read in time (incomplete or broken chunked "
                         f"encoding?); the limit is {deadline_s:g} s.") from None
    body = b"".join(chunks)
    if len(body) > limit:
        raise BodyTooLarge(f"The body exceeds the limit of {limit} bytes.")
    if declared is not None and len(body) < declared:
        raise BadRequest(f"The body ended after {len(body)} of {declared} bytes, or took "
                         f"longer than {deadline_s:g} s.")
    return body


def receive(source: str) -> Response:
    """Hand one delivery for ``source`` to the intake use case and answer its receipt."""
    context = web_context()
    try:
        body = read_body(context.settings.max_body_bytes)
        headers = intake_headers(request.headers, context.settings)
        receipt = context.intake.receive(source, body, headers)  # type: ignore[arg-type]
    except IntakeError as exc:
        metrics.DELIVERIES.labels(source, "unknown", exc.code).inc()
        raise
    metrics.DELIVERIES.labels(source, metrics.type_label(receipt.event_type), receipt.status).inc()
    # A literal body: jsonify's provider machinery is a visible share of
    # an intake's cost, and this answer never varies in shape.
    body_out = f'{{"event_id":"{receipt.event_id}","status":"{receipt.status}"}}\n'
    return Response(body_out, status=receipt.http_status, mimetype="application/json")


for _source in SOURCES.values():
    # ``defaults`` hands the source's name to the one view all routes share.
    for _path, _endpoint in zip(_source.paths, ("receive", "receive_api"), strict=True):
        bp.add_url_rule(_path, f"{_endpoint}_{_source.name}", receive, methods=["POST"],
                        defaults={"source": _source.name})
