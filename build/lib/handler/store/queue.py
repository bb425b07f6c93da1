"""The work queue over ``events``: claims under a lease, finish, retry with backoff.

Claims, leases and fencing follow :mod:`handler.store.lease`: PostgreSQL
claims with ``FOR UPDATE SKIP LOCKED`` so several workers never take the
same event; SQLite serialises claims with ``BEGIN IMMEDIATE``. A claim is
committed before any network call. Every later write is fenced by the lease
owner, so a worker whose lease ran out cannot overwrite the result of the
worker that took the event over. Each attempt is also logged in ``attempts``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update

from handler.store.engine import Transactions, utcnow
from handler.store.inbox import NOTIFY_CHANNEL
from handler.store.lease import Leases
from handler.store.tables import attempts, events

EVENT_LEASES = Leases(events, waiting="queued", held="processing",
                      order=(events.c.next_attempt_at,))


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
        where = None
        if event_id is not None:
            where = and_(events.c.id == event_id,
                         or_(events.c.status == "queued", EVENT_LEASES.expired(now)))
        with self.tx.write() as connection:
            claimed = EVENT_LEASES.claim(connection, owner=owner, now=now, lease_s=lease_s,
                                         where=where, updated_at=now)
            if not claimed:
                return None
            row = claimed[0]
            connection.execute(insert(attempts).values(
                event_id=row.id, number=row.attempts + 1, worker=owner, started_at=now))
            original_source = row.source
            if row.replay_of:
                original_source = connection.execute(
                    select(events.c.source).where(events.c.id == row.replay_of)
                ).scalar_one_or_none() or row.source
        return ClaimedEvent(row.id, row.source, row.type, row.body, row.attempts + 1,
                            row.replay_of, original_source)

    def _close_attempt(self, connection: Connection, event_id: str, owner: str,
                       outcome: str, error: str | None) -> None:
        # Fenced by the worker too: only this owner's own latest attempt is closed.
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
            settled = EVENT_LEASES.settle(connection, event_id, owner, status=status,
                                          last_error=error, reason=reason,
                                          next_attempt_at=None, updated_at=now)
            self._close_attempt(connection, event_id, owner, status, error or reason)
        return settled

    def retry_event(self, event_id: str, owner: str, error: str, delay_s: float) -> bool:
        """Put the event back in the queue, due after ``delay_s``; False if the lease was lost."""
        now = utcnow()
        with self.tx.write() as connection:
            settled = EVENT_LEASES.settle(connection, event_id, owner, status="queued",
                                          last_error=error, updated_at=now,
                                          next_attempt_at=now + timedelta(seconds=delay_s))
            self._close_attempt(connection, event_id, owner, "retry", error)
        return settled

    def next_event_due_in(self) -> float | None:
        """Seconds until the next queued event or lease expiry is due (None: nothing pending)."""
        with self.tx.read() as connection:
            due = EVENT_LEASES.next_due(connection)
        if due is None:
            return None
        return max(0.0, (due - utcnow()).total_seconds())

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
