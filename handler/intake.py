"""The intake use case: verify a raw delivery, parse it, store it once.

Knows nothing of HTTP beyond header values: the web app hands it the raw
bytes and the headers, and answers whatever :class:`Receipt` it gets back,
or the :class:`~handler.errors.IntakeError` it raises.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from handler import events, signatures
from handler.errors import (
    InvalidPayload,
    SourceDisabled,
    StaleTimestamp,
    UnsupportedMediaType,
)
from handler.settings import Settings


class EventSink(Protocol):
    """Where verified events are stored (the store's inbox)."""

    def ingest(self, *, source: str, event_type: str, idempotency_key: str, status: str,
               body: str, headers: dict[str, str], last_error: str | None = None,
               replay_of: str | None = None) -> tuple[str, bool]: ...


@dataclass(frozen=True)
class Receipt:
    """What the caller is told: the event id and ``queued|ignored|duplicate``."""

    event_id: str
    status: str
    event_type: str

    @property
    def http_status(self) -> int:
        """202 for a new event, 200 for a duplicate."""
        return 200 if self.status == "duplicate" else 202


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class Intake:
    """Verify, parse and store deliveries for every inbound source."""

    def __init__(self, settings: Settings, sink: EventSink,
                 clock: Callable[[], float] = time.time,
                 on_stored: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.sink = sink
        self.clock = clock
        self.on_stored = on_stored

    def enabled(self, source: str) -> bool:
        """Whether a route has the secret or credentials it needs."""
        s = self.settings
        return {
            "mlflow": bool(s.mlflow_secret_list),
            "databricks": bool(s.databricks_secret_list),
            "databricks_jobs": s.databricks_jobs_enabled,
            "events": bool(s.events_secret_list),
        }[source]

    def receive(self, source: str, body: bytes, headers: Mapping[str, str]) -> Receipt:
        """Authenticate and store one delivery; raise an IntakeError for bad input."""
        if not self.enabled(source):
            raise SourceDisabled(f"The {source} route has no secret configured.")
        if not _is_json(headers.get("Content-Type")):
            raise UnsupportedMediaType("Send the body as application/json.")
        self._authenticate(source, body, headers)
        try:
            parsed = self._parse(source, body, headers)
        except InvalidPayload as exc:
            # Authentic but not of the declared shape: kept for the operator.
            event_id, _ = self.sink.ingest(
                source=source, event_type=_declared_type(source, body, headers),
                idempotency_key=_fallback_key(source, body, headers), status="rejected",
                body=body.decode("utf-8", "replace"), headers=dict(headers),
                last_error=exc.detail,
            )
            exc.extra["event_id"] = event_id
            raise
        event_id, created = self.sink.ingest(
            source=parsed.source, event_type=parsed.type,
            idempotency_key=parsed.idempotency_key, status=parsed.initial_status,
            body=body.decode("utf-8"), headers=dict(headers),
        )
        if not created:
            return Receipt(event_id, "duplicate", parsed.type)
        if parsed.acted_on and self.on_stored is not None:
            self.on_stored(event_id)
        return Receipt(event_id, parsed.initial_status, parsed.type)

    def _authenticate(self, source: str, body: bytes, headers: Mapping[str, str]) -> None:
        s, now = self.settings, self.clock()
        if source == "mlflow":
            signatures.verify_mlflow(
                body, delivery_id=headers.get("X-MLflow-Delivery-Id"),
                timestamp=headers.get("X-MLflow-Timestamp"),
                signature=headers.get("X-MLflow-Signature"),
                secrets=s.mlflow_secret_list, now=now, tolerance_s=s.timestamp_tolerance_s)
        elif source == "databricks":
            expected = s.databricks_authorization
            signatures.verify_databricks(
                body, signature=headers.get("X-Databricks-Signature"),
                authorization=headers.get("Authorization"),
                secrets=s.databricks_secret_list,
                expected_authorization=expected.get_secret_value() if expected else None)
        elif source == "databricks_jobs":
            assert s.databricks_jobs_user and s.databricks_jobs_password
            signatures.verify_basic_auth(
                headers.get("Authorization"), username=s.databricks_jobs_user,
                password=s.databricks_jobs_password.get_secret_value())
        else:
            signatures.verify_standard(
                body, msg_id=headers.get("webhook-id"),
                timestamp=headers.get("webhook-timestamp"),
                signature=headers.get("webhook-signature"),
                secrets=s.events_secret_list, now=now, tolerance_s=s.timestamp_tolerance_s)

    def _parse(self, source: str, body: bytes, headers: Mapping[str, str]) -> events.Intake:
        if source == "mlflow":
            return events.parse_mlflow(body, headers["X-MLflow-Delivery-Id"])
        if source == "databricks":
            parsed = events.parse_databricks(body)
            # In integer milliseconds: an authentic but absurd event_timestamp
            # (say 10**400) would overflow float arithmetic into a 5xx.
            age_ms = int(self.clock() * 1000) - int(parsed.payload["event_timestamp"])
            if age_ms > self.settings.databricks_max_age_s * 1000:
                raise StaleTimestamp(
                    f"event_timestamp is {age_ms // 1000} s old; the limit is "
                    f"{self.settings.databricks_max_age_s} s.")
            return parsed
        if source == "databricks_jobs":
            return events.parse_databricks_job(body)
        return events.parse_standard_event(body, headers["webhook-id"])


def _declared_type(source: str, body: bytes, headers: Mapping[str, str]) -> str:
    """Best-effort type of a rejected payload, for the operator's listing."""
    try:
        raw = events.load_json(body)
    except Exception:  # noqa: BLE001 - a rejected body may be anything; the type is cosmetic
        return "unknown"
    if not isinstance(raw, dict):
        return "unknown"
    if source == "mlflow":
        entity, action = raw.get("entity"), raw.get("action")
        return f"{entity}.{action}" if isinstance(entity, str) and isinstance(action, str) else "unknown"
    key = {"databricks": "event", "databricks_jobs": "event_type", "events": "type"}[source]
    value = raw.get(key)
    return value[:120] if isinstance(value, str) and value else "unknown"


def _fallback_key(source: str, body: bytes, headers: Mapping[str, str]) -> str:
    """The idempotency key of a rejected payload: the delivery id, else the body hash.

    Not truncated: two long delivery ids sharing a prefix must stay distinct
    (the store hashes keys too long for its column).
    """
    header = {"mlflow": "X-MLflow-Delivery-Id", "events": "webhook-id"}.get(source)
    if header and headers.get(header):
        return headers[header]
    return "sha256:" + hashlib.sha256(body).hexdigest()
