"""Leases: how a table of work is claimed, held and settled by one owner at a time.

Both queues in the store follow this protocol: events (``handler.store.queue``)
and notifications (``handler.store.outbox``). A row is *due* when it waits
with ``next_attempt_at`` in the past, or is held under a lease that ran out
(its holder died). PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` so
several workers never take the same row; SQLite serialises claims because
the store's write transactions are ``BEGIN IMMEDIATE``
(:meth:`~handler.store.engine.Transactions.write`). The claim is committed
before any network call. Every later write is fenced by the lease owner, so
a holder whose lease ran out cannot overwrite the result of the one that
took the row over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Table, and_, func, or_, select, update

from handler.store.engine import as_utc


@dataclass(frozen=True)
class Leases:
    """The lease protocol over one table with ``id``, ``status``, ``attempts``,
    ``next_attempt_at``, ``lease_until`` and ``lease_owner`` columns.

    ``waiting`` is the status of a row due at ``next_attempt_at``; ``held``
    the status of a claimed row; ``order`` the columns claims take rows by.
    """

    table: Table
    waiting: str
    held: str
    order: Sequence[ColumnElement[Any]]

    def expired(self, now: datetime) -> ColumnElement[bool]:
        """Held rows whose lease ran out by ``now``: their holder stopped."""
        return and_(self.table.c.status == self.held, self.table.c.lease_until < now)

    def due(self, now: datetime) -> ColumnElement[bool]:
        """Rows a claim may take at ``now``: waiting and due, or held past their lease."""
        return or_(
            and_(self.table.c.status == self.waiting, self.table.c.next_attempt_at <= now),
            self.expired(now),
        )

    def claim(self, connection: Connection, *, owner: str, now: datetime, lease_s: float,
              limit: int = 1, where: ColumnElement[bool] | None = None,
              **values: Any) -> list[Row[Any]]:
        """Take up to ``limit`` due rows (or rows matching ``where``) for ``owner``.

        Call it inside a write transaction, which the caller commits before
        any network call. Returns the rows as they were before the claim.
        Each claim charges one attempt, so a row that kills its holder every
        time still runs out of attempts. ``values`` are further columns to set.
        """
        table = self.table
        query = (select(table).where(self.due(now) if where is None else where)
                 .order_by(*self.order).limit(limit))
        if connection.dialect.name != "sqlite":
            # SQLite needs no row lock: BEGIN IMMEDIATE already let one claim in.
            query = query.with_for_update(skip_locked=True)
        rows = list(connection.execute(query).all())
        if rows:
            connection.execute(update(table).where(table.c.id.in_([row.id for row in rows]))
                               .values(status=self.held, lease_owner=owner,
                                       attempts=table.c.attempts + 1,
                                       lease_until=now + timedelta(seconds=lease_s), **values))
        return rows

    def settle(self, connection: Connection, row_id: Any, owner: str, **values: Any) -> bool:
        """End ``owner``'s lease on a row, writing ``values``; False if the lease was lost.

        Fenced: only a row still held by ``owner`` changes, so a holder whose
        lease ran out (and whose row another owner claimed) writes nothing.
        """
        table = self.table
        changed = connection.execute(update(table).where(
            table.c.id == row_id, table.c.lease_owner == owner, table.c.status == self.held,
        ).values(lease_until=None, lease_owner=None, **values)).rowcount
        return bool(changed == 1)

    def next_due(self, connection: Connection) -> datetime | None:
        """When the next row becomes due: a waiting row or an expiring lease (None: neither)."""
        table = self.table
        waiting = connection.execute(select(func.min(table.c.next_attempt_at)).where(
            table.c.status == self.waiting)).scalar_one_or_none()
        leased = connection.execute(select(func.min(table.c.lease_until)).where(
            table.c.status == self.held)).scalar_one_or_none()
        times = [t for t in (as_utc(waiting), as_utc(leased)) if t is not None]
        return min(times) if times else None
