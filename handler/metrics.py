"""Prometheus metrics (prometheus-client).

Under gunicorn with several workers, set ``PROMETHEUS_MULTIPROC_DIR`` (the
gunicorn config in deploy/ does) so ``/metrics`` aggregates all workers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from handler import events

DELIVERIES = Counter(
    "reghook_deliveries_total",
    "Inbound webhook deliveries by source, event type and result.",
    ["source", "type", "result"],
)
EVENTS_PROCESSED = Counter(
    "reghook_events_processed_total",
    "Events finished by the worker, by type and outcome.",
    ["type", "outcome"],
)
PROCESSING_SECONDS = Histogram(
    "reghook_event_processing_seconds",
    "Time the worker spent on one event attempt.",
    ["type"],
)
NOTIFICATIONS = Counter(
    "reghook_notifications_total",
    "Notification send attempts by channel type and result.",
    ["channel_type", "result"],
)


# --- the worker's shutdown (handler/worker/shutdown.py) --------------------------
EVENTS_RELEASED = Counter(
    "reghook_events_released_total",
    "Events a stopping worker gave back to the queue instead of waiting out its lease.",
    ["type"],
)


# Every event type reghook acts on; anything else a sender names is "other".
KNOWN_TYPES = frozenset({*events.MLFLOW_EVENT_TYPES, *events.DATABRICKS_ACTED, *events.JOBS_ACTED,
                         "run.finished", "rollback.requested", "promote.requested",
                         "version.govern.requested"})


def type_label(event_type: str) -> str:
    """The ``type`` label of an event: bounded, so no sender can create unbounded series.

    Databricks' ``TRANSITION_REQUEST_TO_<stage>_CREATED`` and
    ``MODEL_VERSION_TRANSITIONED_TO_<stage>`` name any stage a sender likes:
    they are counted under the family reghook acts on.
    """
    if event_type in KNOWN_TYPES:
        return event_type
    return events.databricks_event_kind(event_type) or "other"


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
