"""The work queue over ``events``: claims under a lease, finish, retry with backoff.

PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` so several workers never
take the same event; SQLite serialises claims with ``BEGIN IMMEDIATE``. A
claim is committed before any network call. Every later write is fenced by
the lease owner, so a worker whose lease ran out cannot overwrite the result
of the worker that took the event over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, insert, or_, select, update

from handler.store.engine import Transactions, as_utc, utcnow
from handler.store.inbox import NOTIFY_CHANNEL
from handler.store.tables import attempts, events


@dataclass(frozen=True)
class ClaimedEvent:
    """An event a worker holds under a lease."""

    id: str
    source: str
    type: str
    body: str
    attempts: int
    replay_of: str | None
    original_source: str


class Queue:
    """Claim, finish and retry stored events."""

    tx: Transactions

    def claim_event(self, owner: str, lease_s: float,
                    event_id: str | None = None) -> ClaimedEvent | None:
        """Take the next due event (queued, or processing with an expired lease).

        With ``event_id``, take that event only, due or not (``reghook govern``
        processes the event it just stored, synchronously).
        """
        now = utcnow()
        if event_id is None:
            due = or_(
                and_(events.c.status == "queued", events.c.next_attempt_at <= now),
                and_(events.c.status == "processing", events.c.lease_until < now),
            )
        else:
            due = and_(events.c.id == event_id, or_(
                events.c.status == "queued",
                and_(events.c.status == "processing", events.c.lease_until < now)))
        query = select(events).where(due).order_by(events.c.next_attempt_at).limit(1)
        if not self.tx.sqlite:
            query = query.with_for_update(skip_locked=True)
        with self.tx.write() as connection:
            row = connection.execute(query).first()
            if row is None:
                return None
            connection.execute(update(events).where(events.c.id == row.id).values(
                status="processing", lease_owner=owner, attempts=row.attempts + 1,
                lease_until=now + timedelta(seconds=lease_s), updated_at=now))
            connection.execute(insert(attempts).values(
                event_id=row.id, number=row.attempts + 1, worker=owner, started_at=now))
            original_source = row.source
            if row.replay_of:
                original_source = connection.execute(
                    select(events.c.source).where(events.c.id == row.replay_of)
                ).scalar_one_or_none() or row.source
        return ClaimedEvent(row.id, row.source, row.type, row.body, row.attempts + 1,
                            row.replay_of, original_source)

    def _close_attempt(self, connection, event_id: str, owner: str,  # type: ignore[no-untyped-def]
                       outcome: str, error: str | None) -> None:
        latest = select(func.max(attempts.c.id)).where(
            attempts.c.event_id == event_id, attempts.c.worker == owner).scalar_subquery()
        connection.execute(update(attempts).where(attempts.c.id == latest).values(
            finished_at=utcnow(), outcome=outcome, error=error))

    def finish_event(self, event_id: str, owner: str, status: str,
                     error: str | None = None, reason: str | None = None) -> bool:
        """Record the final status (done / ignored / failed); False if the lease was lost.

        ``error`` is why it failed; ``reason`` is what was done or why it was ignored.
        """
        now = utcnow()
        with self.tx.write() as connection:
            changed = connection.execute(update(events).where(
                events.c.id == event_id, events.c.lease_owner == owner,
                events.c.status == "processing",
            ).values(status=status, last_error=error, reason=reason, lease_until=None,
                     lease_owner=None, next_attempt_at=None, updated_at=now)).rowcount
            self._close_attempt(connection, event_id, owner, status, error or reason)
        return changed == 1

    def retry_event(self, event_id: str, owner: str, error: str, delay_s: float) -> bool:
        """Put the event back in the queue, due after ``delay_s``."""
        now = utcnow()
        with self.tx.write() as connection:
            changed = connection.execute(update(events).where(
                events.c.id == event_id, events.c.lease_owner == owner,
                events.c.status == "processing",
            ).values(status="queued", last_error=error, lease_until=None, lease_owner=None,
                     next_attempt_at=now + timedelta(seconds=delay_s), updated_at=now)).rowcount
            self._close_attempt(connection, event_id, owner, "retry", error)
        return changed == 1

    def next_event_due_in(self) -> float | None:
        """Seconds until the next queued event or lease expiry is due (None: nothing pending)."""
        with self.tx.read() as connection:
            queued = connection.execute(select(func.min(events.c.next_attempt_at)).where(
                events.c.status == "queued")).scalar_one_or_none()
            leased = connection.execute(select(func.min(events.c.lease_until)).where(
                events.c.status == "processing")).scalar_one_or_none()
        times = [as_utc(t) for t in (queued, leased) if t is not None]
        if not times:
            return None
        return max(0.0, (min(t for t in times if t) - utcnow()).total_seconds())

    def counts_by_status(self) -> dict[str, int]:
        """How many events are in each status."""
        with self.tx.read() as connection:
            rows = connection.execute(
                select(events.c.status, func.count()).group_by(events.c.status)).all()
        return {status: count for status, count in rows}


def listen_for_events(engine: Engine, on_event: Callable[[], None], stop: threading.Event) -> None:
    """On PostgreSQL, call ``on_event`` whenever an event is queued (LISTEN/NOTIFY).

    Lets a worker in another process than the web app wake at once instead of
    waiting for its poll interval. Returns immediately on SQLite. Reconnects
    after a dropped connection; polling still covers any missed notification.
    """
    if engine.dialect.name == "sqlite":
        return
    while not stop.is_set():
        try:
            raw = engine.raw_connection()
            try:
                connection: Any = raw.driver_connection
                connection.autocommit = True
                connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                while not stop.is_set():
                    for _ in connection.notifies(timeout=1.0, stop_after=1):
                        on_event()
            finally:
                raw.close()
        except Exception:  # noqa: BLE001 - database restarting: wait, then listen again
            stop.wait(2.0)
