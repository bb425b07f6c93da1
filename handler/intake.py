"""The intake use case: verify a raw delivery, parse it, store it once.

Knows nothing of HTTP beyond header values: the web app hands it the raw
bytes and the headers, and answers whatever :class:`Receipt` it gets back,
or the :class:`~handler.errors.IntakeError` it raises. What differs between
senders lives in :mod:`handler.sources`; this module is the same for all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from handler.errors import InvalidPayload, SourceDisabled, UnsupportedMediaType
from handler.settings import Settings
from handler.sources import SOURCES, Source


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


# The headers stored with an event, for the operator (``events show``): how
# it was sent and which delivery it was. An allow-list, not a deny-list: a
# proxy in front may add credentials under any name (X-Forwarded-Access-Token,
# X-Api-Key, X-Amz-Security-Token...), and none of them may be stored.
# Each source adds its own delivery and timestamp headers (Source.kept_headers).
KEPT_HEADERS = frozenset({"content-type", "content-length", "content-encoding", "user-agent",
                          "x-request-id", "x-forwarded-for", "x-forwarded-proto",
                          # who, behind a Databricks App (handler.web.proxy): a name, not a credential
                          "x-forwarded-email"})
# A header value is shown to operators, not trusted: bound it.
MAX_HEADER_VALUE = 512


def kept_headers(headers: Mapping[str, str], source: Source) -> dict[str, str]:
    """The headers worth keeping with an event: never signatures, credentials or cookies."""
    wanted = KEPT_HEADERS | source.kept_headers
    return {name: value[:MAX_HEADER_VALUE] for name, value in headers.items()
            if name.lower() in wanted}


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class Intake:
    """Verify, parse and store deliveries for every source in ``sources``."""

    def __init__(self, settings: Settings, sink: EventSink,
                 clock: Callable[[], float] = time.time,
                 on_stored: Callable[[str], None] | None = None,
                 sources: Mapping[str, Source] = SOURCES) -> None:
        self.settings = settings
        self.sink = sink
        self.clock = clock
        self.on_stored = on_stored
        self.sources = sources

    def receive(self, source: str, body: bytes, headers: Mapping[str, str]) -> Receipt:
        """Authenticate and store one delivery; raise an IntakeError for bad input."""
        sender = self.sources[source]
        if not sender.enabled(self.settings):
            raise SourceDisabled(f"The {source} route has no secret configured.")
        if not _is_json(headers.get("Content-Type")):
            raise UnsupportedMediaType("Send the body as application/json.")
        now = self.clock()
        sender.verify(body, headers, self.settings, now)
        try:
            parsed = sender.parse(body, headers)
        except InvalidPayload as exc:
            exc.extra["event_id"] = self._store_rejected(sender, body, headers, exc)
            raise
        sender.check_age(parsed, self.settings, now)
        event_id, created = self.sink.ingest(
            source=parsed.source, event_type=parsed.type,
            idempotency_key=parsed.idempotency_key, status=parsed.initial_status,
            body=body.decode("utf-8"), headers=kept_headers(headers, sender),
        )
        if not created:
            return Receipt(event_id, "duplicate", parsed.type)
        if parsed.acted_on and self.on_stored is not None:
            self.on_stored(event_id)
        return Receipt(event_id, parsed.initial_status, parsed.type)

    def _store_rejected(self, sender: Source, body: bytes, headers: Mapping[str, str],
                        exc: InvalidPayload) -> str:
        """Keep an authentic payload of the wrong shape for the operator; its event id."""
        event_id, _ = self.sink.ingest(
            source=sender.name, event_type=sender.declared_type(body),
            idempotency_key=sender.fallback_key(body, headers), status="rejected",
            body=body.decode("utf-8", "replace"), headers=kept_headers(headers, sender),
            last_error=exc.detail,
        )
        return event_id
