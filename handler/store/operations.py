"""What operators need from the store: a claim given back on shutdown, and the backlog gauges.

:meth:`Operations.release_event` is the graceful half of the lease protocol
(:mod:`handler.store.lease`): a worker told to stop hands its event back at
once instead of letting another worker wait out the lease. A SIGKILLed
worker cannot do this; its event is retaken when the lease runs out.

:meth:`Operations.backlog` reads store-wide numbers at scrape time, so every
process that reports them reports the same value (docs/processing.md:
aggregate them with ``max()``, never ``sum()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update

from handler.store.engine import Transactions, as_utc, utcnow
from handler.store.queue import EVENT_LEASES
from handler.store.tables import attempts, events, outbox, registrations, watch_state


@dataclass(frozen=True)
class Backlog:
    """Store-wide work still to do, read in one look."""

    # (source, status) -> count, for events still queued or processing
    events: dict[tuple[str, str], int] = field(default_factory=dict)
    # source -> seconds since the oldest unfinished event was received
    oldest_age_s: dict[str, float] = field(default_factory=dict)
    failed_events: int = 0
    # outbox status -> count, for pending, sending and failed messages
    outbox: dict[str, int] = field(default_factory=dict)
    oldest_pending_message_age_s: float = 0.0
    # seconds since the registry watch's least recent look at a model; None: it never looked
    oldest_watch_look_age_s: float | None = None


def _age(now: datetime, then: datetime | None) -> float:
    then = as_utc(then)
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


class Operations:
    """Release a claim on shutdown; read the backlog for the gauges."""

    tx: Transactions

    def release_event(self, event_id: str, owner: str) -> bool:
        """Give ``owner``'s claim on an event back: queued, due now, lease cleared.

        Fenced by owner like every settle, so a worker whose lease already ran
        out releases nothing. The attempt is given back too (it was cut off,
        not failed), and the event's registration claim, if any, is left to
        expire now so the next worker need not wait for it. False if the
        lease was lost.
        """
        now = utcnow()
        with self.tx.write() as connection:
            released = EVENT_LEASES.settle(connection, event_id, owner, status="queued",
                                           next_attempt_at=now, updated_at=now,
                                           # a held event was charged by its claim: >= 1
                                           attempts=events.c.attempts - 1)
            if not released:
                return False
            latest = select(func.max(attempts.c.id)).where(
                attempts.c.event_id == event_id, attempts.c.worker == owner).scalar_subquery()
            connection.execute(update(attempts).where(attempts.c.id == latest).values(
                finished_at=now, outcome="released", error="the worker was stopping"))
            connection.execute(update(registrations).where(
                registrations.c.event_id == event_id, registrations.c.owner == owner,
                registrations.c.status == "registering").values(lease_until=now, updated_at=now))
        return True

    def backlog(self) -> Backlog:
        """Unfinished events by source and status, their oldest age, failures, outbox depth, watch lag."""
        now = utcnow()
        with self.tx.read() as connection:
            unfinished = connection.execute(
                select(events.c.source, events.c.status, func.count(), func.min(events.c.received_at))
                .where(events.c.status.in_(("queued", "processing")))
                .group_by(events.c.source, events.c.status)).all()
            failed = connection.execute(select(func.count()).where(
                events.c.status == "failed")).scalar_one()
            messages = connection.execute(
                select(outbox.c.status, func.count(), func.min(outbox.c.created_at))
                .where(outbox.c.status.in_(("pending", "sending", "failed")))
                .group_by(outbox.c.status)).all()
            # One row per model the watch looks at, so this is a small table.
            least_recent_look = connection.execute(
                select(func.min(watch_state.c.looked_at))).scalar_one_or_none()
        oldest: dict[str, float] = {}
        for source, _status, _count, received in unfinished:
            oldest[source] = max(oldest.get(source, 0.0), _age(now, received))
        pending_age = max((_age(now, created) for status, _n, created in messages
                           if status in ("pending", "sending")), default=0.0)
        return Backlog(events={(source, status): count for source, status, count, _ in unfinished},
                       oldest_age_s=oldest, failed_events=int(failed),
                       outbox={status: count for status, count, _ in messages},
                       oldest_pending_message_age_s=pending_age,
                       oldest_watch_look_age_s=(_age(now, least_recent_look)
                                                if least_recent_look is not None else None))
