"""Reads the console pages need beyond the admin API's: the governed models.

The console pages events with the admin API's keyset paging,
:meth:`handler.store.inbox.Inbox.page_events`.
"""

from __future__ import annotations

from sqlalchemy import select

from handler.store.engine import Transactions
from handler.store.tables import audit


class Pages:
    """The models the ledger knows."""

    tx: Transactions

    def governed_models(self) -> list[str]:
        """Every model the audit trail names, by name."""
        with self.tx.read() as connection:
            names = connection.execute(select(audit.c.model).where(
                audit.c.model.is_not(None)).distinct()).scalars().all()
        return sorted(names)
