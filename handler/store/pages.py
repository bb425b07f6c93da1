"""Reads the console pages need beyond the admin API's: events a page at a time, governed models.

Paging is by cursor (the last event of the page shown), not by offset, so
events arriving while someone reads do not shift the next page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select

from handler.store.engine import Transactions, as_utc
from handler.store.rows import event_json
from handler.store.tables import audit, events


class Pages:
    """Event pages newest first, and the models the ledger knows."""

    tx: Transactions

    def events_page(self, *, status: str | None = None, source: str | None = None,
                    event_type: str | None = None, since: datetime | None = None,
                    before: str | None = None, limit: int = 50
                    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of events, newest first, older than event ``before``; and the next cursor."""
        query = select(events)
        for column, value in ((events.c.status, status), (events.c.source, source),
                              (events.c.type, event_type)):
            if value:
                query = query.where(column == value)
        if since is not None:
            bound = as_utc(since)
            assert bound is not None
            # SQLite compares times as text: convert to UTC, do not just tag it.
            query = query.where(events.c.received_at >= bound.astimezone(UTC))
        with self.tx.read() as connection:
            if before:
                cursor = connection.execute(select(events.c.received_at).where(
                    events.c.id == before)).scalar_one_or_none()
                if cursor is not None:
                    # Ties on the timestamp are broken by id, as the order is.
                    query = query.where(or_(events.c.received_at < cursor, and_(
                        events.c.received_at == cursor, events.c.id < before)))
            rows = connection.execute(query.order_by(
                events.c.received_at.desc(), events.c.id.desc()).limit(limit + 1)).all()
        page = [event_json(r) for r in rows[:limit]]
        return page, (page[-1]["id"] if len(rows) > limit else None)

    def governed_models(self) -> list[str]:
        """Every model the audit trail names, by name."""
        with self.tx.read() as connection:
            names = connection.execute(select(audit.c.model).where(
                audit.c.model.is_not(None)).distinct()).scalars().all()
        return sorted(names)
