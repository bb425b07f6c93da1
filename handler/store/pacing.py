"""The pace of each chat webhook, shared by every worker posting to it.

Slack takes about one message per second per incoming webhook (short bursts
allowed, then HTTP 429 with ``Retry-After``); Teams Workflows about four a
second. With several workers the limit is the webhook's, not a worker's, so
the pace is one row per webhook here, keyed by the URL's SHA-256 (the URL is
a secret and never stored):

- ``last_sent_at``: when a worker last got leave to send. Leave is given only
  ``interval`` after it, so sends by all workers together are spaced.
- ``booked_until``: the end of the slots handed to deferred messages. A
  message refused leave is put back until the next free slot and moves the
  booking on, so a backlog of N messages is spread over N slots (each one
  claimed once more, not every message at every slot).
- ``held_until``: a 429's ``Retry-After``, holding back every worker.

Every decision is one write transaction over the row (``FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two workers never both get
leave for one slot. Times come from the workers' clocks: hosts must keep
them in sync (NTP), as the leases already require.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from handler.store.engine import Transactions, as_utc
from handler.store.tables import channel_pace


def _latest(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return max(present) if present else None


class Pacing:
    """Leave to send, booked slots and 429 holds, per webhook."""

    tx: Transactions

    def _pace_row(self, connection: Connection, key: str) -> Any:
        dialect = sqlite if self.tx.sqlite else postgresql
        connection.execute(dialect.insert(channel_pace).values(key=key)
                           .on_conflict_do_nothing(index_elements=["key"]))
        return connection.execute(select(channel_pace).where(channel_pace.c.key == key)
                                  .with_for_update()).one()

    def take_slot(self, key: str, *, now: datetime, interval_s: float) -> datetime | None:
        """Leave to send to webhook ``key`` now (None), or the booked slot to come back at.

        Leave is given when the webhook is not held and its last send is at
        least ``interval_s`` ago; it records ``now`` as the last send.
        """
        interval = timedelta(seconds=interval_s)
        with self.tx.write() as connection:
            row = self._pace_row(connection, key)
            last_sent = as_utc(row.last_sent_at)
            free_at = _latest(last_sent + interval if last_sent else None,
                              as_utc(row.held_until))
            where = channel_pace.c.key == key
            if free_at is None or now >= free_at:
                connection.execute(update(channel_pace).where(where).values(last_sent_at=now))
                return None
            slot = max(free_at, as_utc(row.booked_until) or free_at)
            connection.execute(update(channel_pace).where(where)
                               .values(booked_until=slot + interval))
        return slot

    def hold_channel(self, key: str, *, until: datetime) -> None:
        """Hold webhook ``key`` back until ``until`` (a 429's ``Retry-After``), for every worker."""
        with self.tx.write() as connection:
            row = self._pace_row(connection, key)
            held = _latest(as_utc(row.held_until), until)
            connection.execute(update(channel_pace).where(channel_pace.c.key == key)
                               .values(held_until=held))
