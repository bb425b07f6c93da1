"""The inbox: store verified deliveries once, list and show them, replay them."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, func, or_, select

from handler.errors import BadRequest, Conflict
from handler.store.engine import Transactions, as_utc, iso, utcnow
from handler.store.rows import audit_json, event_json
from handler.store.tables import attempts, audit, events

# Headers that authenticate a delivery are never stored or shown.
SECRET_HEADERS = frozenset(
    {"x-mlflow-signature", "x-databricks-signature", "webhook-signature", "authorization",
     "cookie", "proxy-authorization"}
)
NOTIFY_CHANNEL = "reghook_events"


def new_event_id() -> str:
    """A fresh event id: 128 random bits in hex (a quarter of uuid4()'s cost, same shape)."""
    return "evt_" + os.urandom(16).hex()


def public_headers(headers: dict[str, str]) -> dict[str, str]:
    """The headers worth keeping: everything but signatures and credentials."""
    return {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}


def _length(column: Any) -> int | None:
    """The declared width of a String column (None for Text)."""
    return getattr(column.type, "length", None)


# Read once: every intake checks a key and a type against them.
_KEY_LENGTH = _length(events.c.idempotency_key)
_TYPE_LENGTH = _length(events.c.type)


def _fits_text_column(value: str, length: int | None) -> bool:
    # PostgreSQL refuses NUL in text and overlong values; neither backend can
    # encode a lone surrogate (JSON "\ud800" decodes to one).
    if "\x00" in value or (length is not None and len(value) > length):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable_key(key: str) -> str:
    """An idempotency key that fits its column; longer or odd keys are hashed.

    Keys come from senders (delivery ids, webhook ids, job ids). Hashing keeps
    the same key mapping to the same stored value, so duplicates still match.
    """
    if _fits_text_column(key, _KEY_LENGTH):
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def storable_type(event_type: str) -> str:
    """An event type that fits its column: odd characters replaced, cut to length.

    Only types reghook does not act on can be long or odd, so nothing is lost.
    """
    clean = event_type.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return clean[:_TYPE_LENGTH] or "unknown"


def _utc(since: datetime | None) -> datetime | None:
    # SQLite stores times as naive UTC text and compares them as text, so a
    # bound "since" with another offset must be converted, not just tagged.
    value = as_utc(since)
    return value.astimezone(UTC) if value is not None else None


# The order of the row Inbox.ingest builds.
_INSERT_COLUMNS = ("id", "source", "type", "idempotency_key", "status", "received_at",
                   "updated_at", "attempts", "next_attempt_at", "last_error", "body", "headers",
                   "replay_of")
_SQLITE_INSERT = (
    f"INSERT INTO events ({', '.join(_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _INSERT_COLUMNS)}) "
    "ON CONFLICT (source, idempotency_key) DO NOTHING RETURNING id"
)
_POSTGRES_INSERT = (
    f"WITH inserted AS (INSERT INTO events ({', '.join(_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in _INSERT_COLUMNS)}) "
    "ON CONFLICT (source, idempotency_key) DO NOTHING RETURNING id) "
    f"SELECT id, pg_notify('{NOTIFY_CHANNEL}', id) FROM inserted"
)


def _postgres_insert(connection: Any, row: tuple[Any, ...]) -> bool:
    """Run the insert as one autocommitted statement on a psycopg connection; whether it inserted.

    One round trip instead of three (psycopg's BEGIN, the INSERT, COMMIT): a
    single statement in autocommit is its own transaction, and the server
    answers only once it is committed (synchronous_commit stays on), so a 202
    still means the event is on disk. The NOTIFY is delivered at that commit.
    """
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(_POSTGRES_INSERT, row)
            return cursor.fetchone() is not None
    finally:
        # The pool hands this connection to SQLAlchemy next, which expects transactions.
        connection.autocommit = False


def _after_in_list(connection: Connection, before: str) -> list[ColumnElement[bool]]:
    """Conditions for "listed after event ``before``" in (received_at, id) descending order.

    Spelled as a range on ``received_at`` plus a tie-break rather than a row
    comparison, so both SQLite and PostgreSQL bound the index range with it.
    """
    received = connection.execute(
        select(events.c.received_at).where(events.c.id == before)).scalar_one_or_none()
    if received is None:
        raise BadRequest(f"before: no event {before}.")
    return [events.c.received_at <= received,
            or_(events.c.received_at < received, events.c.id < before)]


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Inbox:
    """Store-once intake and the operator's view of stored events."""

    tx: Transactions
    engine: Engine

    def ingest(
        self,
        *,
        source: str,
        event_type: str,
        idempotency_key: str,
        status: str,
        body: str,
        headers: dict[str, str],
        last_error: str | None = None,
        replay_of: str | None = None,
    ) -> tuple[str, bool]:
        """Store an event unless its key was seen; return (event id, created)."""
        event_type = storable_type(event_type)
        idempotency_key = storable_key(idempotency_key)
        event_id = new_event_id()
        # SQLite stores times as naive UTC text, as SQLAlchemy's DateTime writes
        # them; formatted once, as the three times are the same.
        now: datetime | str = _sqlite_time(utcnow()) if self.tx.sqlite else utcnow()
        row = (event_id, source, event_type, idempotency_key, status, now, now, 0,
               now if status == "queued" else None, last_error, body,
               json.dumps(public_headers(headers), sort_keys=True), replay_of)
        if self._insert_event(row):
            return event_id, True
        with self.tx.read() as connection:
            existing = connection.execute(
                select(events.c.id).where(events.c.source == source,
                                          events.c.idempotency_key == idempotency_key)
            ).scalar_one()
        return existing, False

    def _insert_event(self, row: tuple[Any, ...]) -> bool:
        """Insert one event unless its key exists: one statement on the driver's connection.

        This is the web process's hot path, so it skips SQLAlchemy's per-call
        statement compilation (most of an intake's cost when measured): the
        SQL is fixed per dialect. RETURNING tells whether this insert won;
        rowcount cannot (psycopg reports -1 for an INSERT that did insert). On
        PostgreSQL the same statement NOTIFYs the workers, sent at commit.
        """
        raw = self.engine.raw_connection()
        try:
            if self.tx.sqlite:
                # The pool's connections are in autocommit (handler.store.engine): the
                # statement is its own transaction, committed when execute returns.
                cursor = raw.cursor()
                cursor.execute(_SQLITE_INSERT, row)
                created = cursor.fetchone() is not None
                cursor.close()
            else:
                created = _postgres_insert(raw.driver_connection, row)
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()
        return created

    def list_events(
        self,
        *,
        status: str | None = None,
        source: str | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[dict[str, Any]]:
        """Stored events, newest first, filtered (one page: see :meth:`page_events`)."""
        return self.page_events(status=status, source=source, event_type=event_type, since=since,
                                limit=limit, before=before)[0]

    def page_events(
        self,
        *,
        status: str | None = None,
        source: str | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of stored events, newest first, and the cursor of the next (None: last page).

        Keyset paging (docs/admin-api.md): ``before`` is the id of the last
        event of the previous page, and the page holds the events listed after
        it. Unlike an offset, a page costs the same deep in the list, and
        events stored meanwhile (all newer) shift nothing. Every filter is
        served by an index that ends in the list's order (migration 0004), so
        the read stops after ``limit + 1`` rows. An unknown ``before`` raises
        :class:`~handler.errors.BadRequest`.
        """
        query = select(events).order_by(events.c.received_at.desc(), events.c.id.desc())
        if status:
            query = query.where(events.c.status == status)
        if source:
            query = query.where(events.c.source == source)
        if event_type:
            query = query.where(events.c.type == event_type)
        if since:
            query = query.where(events.c.received_at >= _utc(since))
        with self.tx.read() as connection:
            if before:
                query = query.where(*_after_in_list(connection, before))
            rows = connection.execute(query.limit(limit + 1)).all()
        page = [event_json(row) for row in rows[:limit]]
        return page, (page[-1]["id"] if len(rows) > limit else None)

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        """One event with body, headers, attempts and the actions it caused."""
        with self.tx.read() as connection:
            row = connection.execute(select(events).where(events.c.id == event_id)).first()
            if row is None:
                return None
            tries = connection.execute(
                select(attempts).where(attempts.c.event_id == event_id).order_by(attempts.c.id)
            ).all()
            actions = connection.execute(
                select(audit).where(audit.c.event_id == event_id).order_by(audit.c.id)
            ).all()
        result = event_json(row)
        result["body"] = row.body
        result["headers"] = json.loads(row.headers)
        result["attempt_log"] = [
            {"number": t.number, "worker": t.worker, "started_at": iso(t.started_at),
             "finished_at": iso(t.finished_at), "outcome": t.outcome, "error": t.error}
            for t in tries
        ]
        result["actions"] = [audit_json(a) for a in actions]
        return result

    def replay(self, event_id: str) -> str | None:
        """Queue a copy of a stored event: source ``replay``, a fresh key, ``replay_of``.

        The copy always points at the original delivery (not at an earlier
        replay), so the worker reads the original source from there. A
        ``rejected`` event raises :class:`~handler.errors.Conflict`.
        """
        with self.tx.read() as connection:
            row = connection.execute(select(events).where(events.c.id == event_id)).first()
        if row is None:
            return None
        if row.status == "rejected":
            # docs/processing.md: rejected payloads are kept for inspection, never processed.
            raise Conflict(f"Event {event_id} was rejected at intake (invalid payload); "
                           "it cannot be replayed.")
        new_id, _ = self.ingest(
            source="replay", event_type=row.type,
            idempotency_key=f"replay:{event_id}:{uuid.uuid4().hex}",
            status="queued", body=row.body, headers=json.loads(row.headers),
            replay_of=row.replay_of or event_id,
        )
        return new_id

    def event_ids(self, *, status: str, since: datetime | None = None) -> list[str]:
        """Ids of events in ``status`` (for bulk replay)."""
        query = select(events.c.id).where(events.c.status == status)
        if since:
            query = query.where(events.c.received_at >= _utc(since))
        with self.tx.read() as connection:
            return list(connection.execute(query.order_by(events.c.received_at)).scalars())

    def count_events(self) -> int:
        """How many events are stored (tests and benchmarks)."""
        with self.tx.read() as connection:
            return int(connection.execute(select(func.count()).select_from(events)).scalar_one())

    def ping(self) -> None:
        """Raise unless the store answers and has its schema.

        Reads the events table rather than ``SELECT 1``: an unmigrated store
        answers the latter but would fail every delivery.
        """
        with self.tx.read() as connection:
            connection.execute(select(events.c.id).limit(1))
