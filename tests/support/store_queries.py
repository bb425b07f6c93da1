"""Store queries only tests need: set up or inspect rows the product never touches this way.

Each takes a :class:`~handler.store.Store` and goes through its transactions,
so SQLite and PostgreSQL behave as they do for the product's own queries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from handler.outcomes import Outcome
from handler.store import Store
from handler.store.engine import utcnow
from handler.store.outbox import enqueue
from handler.store.tables import events, registrations


def enqueue_outcome(store: Store, outcome: Outcome, channels: list[str],
                    now: datetime | None = None) -> int:
    """Queue ``outcome`` for each channel in its own transaction; how many were new.

    The product queues messages only inside the transaction that records the
    decision (``Store.record``); tests queue them on their own.
    """
    now = now or utcnow()
    with store.tx.write() as connection:
        return sum(enqueue(connection, sqlite=store.tx.sqlite, channel=channel,
                           outcome=outcome, now=now) for channel in channels)


def touch_event(store: Store, event_id: str, **values: Any) -> None:
    """Update fields of one event behind the queue's back (e.g. expire its lease)."""
    with store.tx.write() as connection:
        connection.execute(
            update(events).where(events.c.id == event_id).values(updated_at=utcnow(), **values)
        )


def registration_state(store: Store, model: str, run_id: str) -> tuple[str, str | None] | None:
    """(status, version) of a (model, run) registration claim, if any."""
    with store.tx.read() as connection:
        row = connection.execute(select(registrations.c.status, registrations.c.version).where(
            registrations.c.model == model, registrations.c.run_id == run_id)).first()
    return (row.status, row.version) if row else None
