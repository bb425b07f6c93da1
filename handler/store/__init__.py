"""The event store: SQLAlchemy 2 over SQLite (default) or PostgreSQL.

The only package that imports SQLAlchemy. :class:`Store` composes one
mixin per concept: the inbox (intake, listing, replay), the queue (claims
and leases), the ledger (audit, alias history, registrations, own writes),
the outbox (notifications) and each chat webhook's pace, the registry
watch's memory, what operators need (a claim released on shutdown, the
backlog gauges), retention (old events purged, the audit record kept), and
the reads of the version comparison and the console's pages. The queue and
the outbox share one lease protocol (claim, expiry, fencing by owner):
:mod:`handler.store.lease`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from handler.errors import ConfigError, ReghookError
from handler.store.comparison import Comparisons
from handler.store.engine import Transactions, enable_wal, is_sqlite, make_engine
from handler.store.inbox import Inbox
from handler.store.ledger import Ledger
from handler.store.operations import Operations
from handler.store.outbox import Outbox
from handler.store.pacing import Pacing
from handler.store.pages import Pages
from handler.store.queue import Queue
from handler.store.retention import Retention
from handler.store.watch import WatchLog

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class Store(Inbox, Queue, Comparisons, Ledger, Outbox, Pacing, WatchLog, Operations,
            Retention, Pages):
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


class SchemaNotCurrent(ConfigError):
    """The event store's schema is missing or behind this reghook: run ``reghook db upgrade``."""


class StoreUnreachable(ReghookError):
    """The event store's database could not be reached (down, wrong host, wrong credentials)."""


def schema_revisions(url: str) -> tuple[str | None, str]:
    """(the database's Alembic revision or None when it has no schema, this code's head).

    Reads only: commands other than ``reghook db upgrade`` never migrate
    (docs/cli.md), so a newer CLI on a laptop cannot migrate production under
    running pods.
    """
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import DBAPIError

    if url.startswith("postgres://"):
        # SQLAlchemy dropped the "postgres" alias; Heroku-style URLs still use it.
        raise ConfigError("REGHOOK_DATABASE_URL starts with postgres://: use "
                          "postgresql+psycopg://user:password@host:5432/db")
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert head is not None  # the package ships its migrations
    if _missing_sqlite_file(url):
        return None, head  # connecting would create an empty file
    try:
        engine = make_engine(url)
    except Exception as exc:  # noqa: BLE001 - an unknown dialect or driver is a configuration error
        raise ConfigError(f"REGHOOK_DATABASE_URL is not usable: {type(exc).__name__}: "
                          f"{' '.join(str(exc).split())}") from None
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision(), head
    except DBAPIError as exc:
        reason = " ".join(str(exc.orig).split())[:300]
        raise StoreUnreachable(f"cannot reach the event store at {_shown(url)}: {reason}") from None
    finally:
        engine.dispose()


def require_current_schema(url: str) -> None:
    """Raise :class:`SchemaNotCurrent` unless the store's schema is this code's newest."""
    current, head = schema_revisions(url)
    if current == head:
        return
    where = _shown(url)
    if current is None:
        raise SchemaNotCurrent(f"the event store at {where} has no schema yet: "
                               "run reghook db upgrade")
    raise SchemaNotCurrent(f"the event store at {where} is at schema {current}, this reghook "
                           f"needs {head}: run reghook db upgrade (or use the reghook that "
                           "migrated it)")


def _missing_sqlite_file(url: str) -> bool:
    """Whether ``url`` names an SQLite file that does not exist yet."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    return (parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
            and not database.startswith("file:") and not Path(database).exists())


def store_is_new(url: str) -> bool:
    """Whether the store at ``url`` has no schema at all (a first run)."""
    return schema_revisions(url)[0] is None


def _shown(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown by its scheme only
        return url.split(":", 1)[0] + ":…"


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
        if not is_sqlite(engine):
            # Fresh statistics for the planner: after a restore or a bulk load the
            # newest-first indexes lose to a sort until autovacuum's next analyze
            # (README, "PostgreSQL at a million events"). About a second per
            # million events; SQLite keeps its index choice without statistics.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("ANALYZE events, audit, alias_history")
    finally:
        engine.dispose()
