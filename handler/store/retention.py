"""Retention: purge old finished events in batches, keep the audit record (docs/processing.md#retention).

An event may be purged when all of these hold:

- it was received before the cutoff, and the cutoff is at least
  :data:`DEDUPE_WINDOW` ago (senders retry for up to 30 days, and the
  event's ``(source, idempotency_key)`` row is what makes a late retry a
  duplicate; the CLI refuses a shorter ``--older-than``);
- it is finished: not ``queued`` and not ``processing``;
- no notification it caused is still owed: every outbox message naming it
  is ``sent`` (a ``pending``, ``sending`` or ``failed`` one keeps it).

With it go its attempts and reghook's own-write records. Kept, because they
are the audit record or the memory that keeps reghook exact: the audit
trail, alias history, outbox messages (the "posted once" keys), and
registrations (one version per run). Their ``event_id`` may then name an
event that no longer exists, and a replay's ``replay_of`` may too.

Each batch is one transaction that re-checks the conditions in its
``DELETE``, so an event that changed between the select and the delete
(a replay queued, a message re-queued) is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, func, not_, select

from handler.store.engine import Transactions, as_utc
from handler.store.tables import attempts, events, outbox, own_writes

DEDUPE_WINDOW = timedelta(days=30)
UNFINISHED = ("queued", "processing")


class CutoffTooRecent(ValueError):
    """The cutoff is inside the 30-day dedupe window: purging would let a late retry in twice."""


@dataclass(frozen=True)
class PurgePlan:
    """What a purge at one cutoff would do, counted before deleting."""

    cutoff: datetime
    purgeable: int
    # older than the cutoff but kept: still queued or processing / a message still owed
    kept_unfinished: int
    kept_for_outbox: int


def _owes_a_message() -> ColumnElement[bool]:
    return exists().where(outbox.c.event_id == events.c.id, outbox.c.status != "sent")


def _purgeable(cutoff: datetime) -> ColumnElement[bool]:
    """Events that may go: older than ``cutoff``, finished, owing no notification."""
    return and_(events.c.received_at < cutoff, events.c.status.not_in(UNFINISHED),
                not_(_owes_a_message()))


def checked_cutoff(cutoff: datetime, now: datetime) -> datetime:
    """``cutoff`` in UTC, or :class:`CutoffTooRecent` when inside the dedupe window."""
    # SQLite compares stored times as naive UTC text: convert, not just tag.
    utc = as_utc(cutoff)
    assert utc is not None
    utc = utc.astimezone(UTC)
    if utc > now - DEDUPE_WINDOW:
        raise CutoffTooRecent("events younger than the 30-day dedupe window are never purged: "
                              "use --older-than 30d or more")
    return utc


class Retention:
    """Count and delete events past their retention."""

    tx: Transactions

    def purge_plan(self, cutoff: datetime, now: datetime) -> PurgePlan:
        """Count what :meth:`purge_events` would delete and what it would keep, and why."""
        cutoff = checked_cutoff(cutoff, now)
        older = events.c.received_at < cutoff
        with self.tx.read() as connection:
            purgeable = connection.execute(
                select(func.count()).select_from(events).where(_purgeable(cutoff))).scalar_one()
            unfinished = connection.execute(select(func.count()).select_from(events).where(
                older, events.c.status.in_(UNFINISHED))).scalar_one()
            owed = connection.execute(select(func.count()).select_from(events).where(
                older, events.c.status.not_in(UNFINISHED), _owes_a_message())).scalar_one()
        return PurgePlan(cutoff=cutoff, purgeable=int(purgeable), kept_unfinished=int(unfinished),
                         kept_for_outbox=int(owed))

    def purge_events(self, cutoff: datetime, now: datetime, *, batch: int = 500,
                     progress: Callable[[int], None] | None = None) -> int:
        """Delete purgeable events older than ``cutoff`` with their attempts; the number deleted.

        Works oldest first in batches of ``batch`` events, one transaction
        each, so a long purge holds no lock for long and an interrupted one
        keeps what it did. ``progress`` is called with each batch's count.
        """
        cutoff = checked_cutoff(cutoff, now)
        deleted = 0
        while True:
            with self.tx.write() as connection:
                ids = list(connection.execute(
                    select(events.c.id).where(_purgeable(cutoff))
                    .order_by(events.c.received_at, events.c.id).limit(batch)).scalars())
                if not ids:
                    return deleted
                # Conditions again in the DELETE: a row that changed since the select stays.
                gone = list(connection.execute(
                    delete(events).where(events.c.id.in_(ids), _purgeable(cutoff))
                    .returning(events.c.id)).scalars())
                connection.execute(delete(attempts).where(attempts.c.event_id.in_(gone)))
                connection.execute(delete(own_writes).where(own_writes.c.event_id.in_(gone)))
            deleted += len(gone)
            if progress is not None:
                progress(len(gone))
