"""The event store: SQLAlchemy 2 over SQLite (default) or PostgreSQL.

The only package that imports SQLAlchemy. :class:`Store` composes one
mixin per concept: the inbox (intake, listing, replay), the queue (claims
and leases), the ledger (audit, alias history, registrations, own writes)
the outbox (notifications), the registry watch's memory, and the reads of
the version comparison and the console's pages. The queue and the outbox
share one lease protocol (claim, expiry, fencing by owner): :mod:`handler.store.lease`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from handler.store.comparison import Comparisons
from handler.store.engine import Transactions, enable_wal, make_engine
from handler.store.inbox import Inbox
from handler.store.ledger import Ledger
from handler.store.outbox import Outbox
from handler.store.pages import Pages
from handler.store.queue import Queue
from handler.store.watch import WatchLog

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class Store(Inbox, Queue, Comparisons, Ledger, Outbox, WatchLog, Pages):
    """All persistent state of reghook, over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tx = Transactions(engine)

    @classmethod
    def from_url(cls, url: str) -> Store:
        """A store for a database URL (the schema must exist: see :func:`upgrade`)."""
        return cls(make_engine(url))

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    """Alembic's config for the packaged migrations and ``url``."""
    from alembic.config import Config  # imported here: the web process never migrates

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Create or migrate the event store to the newest schema (``reghook db upgrade``)."""
    from alembic import command

    engine = make_engine(url)
    try:
        enable_wal(engine)
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
