"""The senders reghook accepts deliveries from: one :class:`Source` each.

Pure: no Flask, no I/O. A source says where it is served (``docs/routes.md``;
every path also under ``/api/v1``), whether the settings enable it, how to
verify a delivery (with :mod:`handler.signatures`), how to parse it into a
typed event (with :mod:`handler.events`, which also derives the idempotency
key), and what to call a payload that is authentic but of the wrong shape.
The intake use case and the web app both read :data:`SOURCES`, so adding a
sender is one entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from handler import events, signatures
from handler.errors import StaleTimestamp
from handler.json_body import load_json
from handler.settings import Settings

Headers = Mapping[str, str]
Verifier = Callable[[bytes, Headers, Settings, float], None]
Parser = Callable[[bytes, Headers], events.Intake]
AgeCheck = Callable[[events.Intake, Settings, float], None]
TypeReader = Callable[[dict[str, Any]], str]

# A rejected payload's declared type is shown to operators, not trusted: bound it.
MAX_DECLARED_TYPE = 120
# Every intake route is served again under this prefix: a Databricks App's
# proxy lets token-carrying callers reach ``/api/`` paths only (docs/routes.md).
API_PREFIX = "/api/v1"


def _no_age_check(_parsed: events.Intake, _settings: Settings, _now: float) -> None:
    """Sources whose verifier already checked the delivery time need nothing more."""


@dataclass(frozen=True)
class Source:
    """One sender: its route, its switch, its verifier and its parser."""

    name: str
    path: str
    enabled: Callable[[Settings], bool]
    verify: Verifier
    parse: Parser
    read_type: TypeReader
    # The header naming a delivery, when the sender sends one: the key of a
    # rejected payload, so a redelivery of the same bad payload is a duplicate.
    delivery_header: str | None = None
    # Lower-cased names of the sender's own headers kept with the event besides
    # the common ones (handler.intake.KEPT_HEADERS): never a signature.
    kept_headers: frozenset[str] = frozenset()
    # For senders that date a delivery only inside the signed body.
    check_age: AgeCheck = _no_age_check

    @property
    def paths(self) -> tuple[str, str]:
        """Where the source is served: its own path and the same under :data:`API_PREFIX`."""
        return self.path, API_PREFIX + self.path

    def declared_type(self, body: bytes) -> str:
        """Best-effort type of a rejected payload, for the operator's listing."""
        try:
            raw = load_json(body)
        except Exception:  # noqa: BLE001 - a rejected body may be anything; the type is cosmetic
            return "unknown"
        return self.read_type(raw) if isinstance(raw, dict) else "unknown"

    def fallback_key(self, body: bytes, headers: Headers) -> str:
        """The idempotency key of a rejected payload: the delivery id, else the body hash.

        Not truncated: two long delivery ids sharing a prefix must stay
        distinct (the store hashes keys too long for its column).
        """
        if self.delivery_header and headers.get(self.delivery_header):
            return headers[self.delivery_header]
        return "sha256:" + hashlib.sha256(body).hexdigest()


def _type_field(key: str) -> TypeReader:
    """Read the declared type from one top-level string field."""

    def read(raw: dict[str, Any]) -> str:
        value = raw.get(key)
        return value[:MAX_DECLARED_TYPE] if isinstance(value, str) and value else "unknown"

    return read


# --- MLflow -------------------------------------------------------------------


def _verify_mlflow(body: bytes, headers: Headers, settings: Settings, now: float) -> None:
    signatures.verify_mlflow(
        body, delivery_id=headers.get("X-MLflow-Delivery-Id"),
        timestamp=headers.get("X-MLflow-Timestamp"),
        signature=headers.get("X-MLflow-Signature"),
        secrets=settings.mlflow_secret_list, now=now,
        tolerance_s=settings.timestamp_tolerance_s)


def _parse_mlflow(body: bytes, headers: Headers) -> events.Intake:
    return events.parse_mlflow(body, headers["X-MLflow-Delivery-Id"])


def _mlflow_type(raw: dict[str, Any]) -> str:
    entity, action = raw.get("entity"), raw.get("action")
    return f"{entity}.{action}" if isinstance(entity, str) and isinstance(action, str) else "unknown"


# --- Databricks Workspace Model Registry ----------------------------------------


def _verify_databricks(body: bytes, headers: Headers, settings: Settings, _now: float) -> None:
    expected = settings.databricks_authorization
    signatures.verify_databricks(
        body, signature=headers.get("X-Databricks-Signature"),
        authorization=headers.get("Authorization"),
        secrets=settings.databricks_secret_list,
        expected_authorization=expected.get_secret_value() if expected else None)


def _parse_databricks(body: bytes, _headers: Headers) -> events.Intake:
    return events.parse_databricks(body)


def check_databricks_age(parsed: events.Intake, settings: Settings, now: float) -> None:
    """Refuse a registry event whose signed ``event_timestamp`` is too old (a replay) or in the future.

    In integer milliseconds: an authentic but absurd event_timestamp (say
    10**400) would overflow float arithmetic into a 5xx.
    """
    age_ms = int(now * 1000) - int(parsed.payload["event_timestamp"])
    if age_ms > settings.databricks_max_age_s * 1000:
        raise StaleTimestamp(
            f"event_timestamp is {age_ms // 1000} s old; the limit is "
            f"{settings.databricks_max_age_s} s.")
    # A date in the future would stay "fresh" for ever: allow clock skew only.
    if -age_ms > settings.timestamp_tolerance_s * 1000:
        raise StaleTimestamp(
            f"event_timestamp is {-age_ms // 1000} s in the future; the tolerance is "
            f"{settings.timestamp_tolerance_s} s.")


# --- Databricks job notifications -------------------------------------------------


def _verify_databricks_jobs(body: bytes, headers: Headers, settings: Settings, _now: float) -> None:
    # Only reached when enabled, which requires both the user and the password.
    user, password = settings.databricks_jobs_user, settings.databricks_jobs_password
    assert user and password
    signatures.verify_basic_auth(headers.get("Authorization"), username=user,
                                 password=password.get_secret_value())


def _parse_databricks_jobs(body: bytes, _headers: Headers) -> events.Intake:
    return events.parse_databricks_job(body)


# --- /events (Standard Webhooks) ---------------------------------------------------


def _verify_events(body: bytes, headers: Headers, settings: Settings, now: float) -> None:
    signatures.verify_standard(
        body, msg_id=headers.get("webhook-id"),
        timestamp=headers.get("webhook-timestamp"),
        signature=headers.get("webhook-signature"),
        secrets=settings.events_secret_list, now=now,
        tolerance_s=settings.timestamp_tolerance_s)


def _parse_events(body: bytes, headers: Headers) -> events.Intake:
    return events.parse_standard_event(body, headers["webhook-id"])


# --- the registry --------------------------------------------------------------------

SOURCES: dict[str, Source] = {source.name: source for source in (
    Source(
        name="mlflow", path="/webhooks/mlflow",
        enabled=lambda s: bool(s.mlflow_secret_list),
        verify=_verify_mlflow, parse=_parse_mlflow, read_type=_mlflow_type,
        delivery_header="X-MLflow-Delivery-Id",
        kept_headers=frozenset({"x-mlflow-delivery-id", "x-mlflow-timestamp"}),
    ),
    Source(
        name="databricks", path="/webhooks/databricks",
        enabled=lambda s: bool(s.databricks_secret_list),
        verify=_verify_databricks, parse=_parse_databricks, read_type=_type_field("event"),
        check_age=check_databricks_age,
    ),
    Source(
        name="databricks_jobs", path="/webhooks/databricks-jobs",
        enabled=lambda s: s.databricks_jobs_enabled,
        verify=_verify_databricks_jobs, parse=_parse_databricks_jobs,
        read_type=_type_field("event_type"),
    ),
    Source(
        name="events", path="/events",
        enabled=lambda s: bool(s.events_secret_list),
        verify=_verify_events, parse=_parse_events, read_type=_type_field("type"),
        delivery_header="webhook-id",
        kept_headers=frozenset({"webhook-id", "webhook-timestamp"}),
    ),
)}
