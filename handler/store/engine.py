"""Engine construction and transactions for SQLite and PostgreSQL.

SQLite: WAL is set once when the store is created (``reghook db upgrade``),
never lazily per process, because two gunicorn workers switching at first
use race into "database is locked". Writes use ``BEGIN IMMEDIATE``: a
deferred transaction that later writes gets SQLITE_BUSY even with a busy
timeout. PostgreSQL needs none of this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite returns naive datetimes)."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z``, as the admin API and ``--json`` show times."""
    value = as_utc(value)
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_sqlite(engine: Engine) -> bool:
    """Whether the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


# Connections kept open per process: at least gunicorn's threads per worker
# (deploy/gunicorn.conf.py, 8), each of which holds one while it stores an
# event. With fewer, the threads beyond them opened and closed an overflow
# connection per request (a PostgreSQL backend start; a SQLite schema read).
# Idle ones cost nothing until used: the pool opens them on demand.
POOL_SIZE = 10
POOL_OVERFLOW = 10


def make_engine(url: str) -> Engine:
    """Build an engine for ``url`` with the per-connection settings reghook needs."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("sqlite"):
        # No pre-ping: it is a round trip on every checkout of the intake's hot
        # path. A connection the server dropped fails one request with a 503
        # (the sender retries) and is replaced; recycling bounds their age.
        return create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW,
                             pool_recycle=300)

    # Pooled connections: opening one per request cost most of an intake
    # (and closing the last one checkpoints the WAL). Safe because no process
    # forks with an engine (gunicorn does not preload the app).
    # An in-memory database keeps SQLAlchemy's one-connection-per-thread pool.
    database = make_url(url).database or ":memory:"
    in_memory = database == ":memory:" or "mode=memory" in url
    sized = {} if in_memory else {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                           **sized)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook emit BEGIN itself (pysqlite's own
        # transaction handling cannot do BEGIN IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def enable_wal(engine: Engine) -> None:
    """Switch a SQLite database to WAL; persistent, so done once at creation."""
    if is_sqlite(engine) and ":memory:" not in str(engine.url):
        # On the raw DBAPI connection: SQLAlchemy would open a transaction
        # first, and SQLite refuses to change the journal inside one.
        raw = engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA journal_mode = WAL")
        finally:
            raw.close()


class Transactions:
    """Read and write transactions over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = is_sqlite(engine)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that may write (``BEGIN IMMEDIATE`` on SQLite)."""
        with self.engine.connect() as connection:
            if self.sqlite:
                connection = connection.execution_options(sqlite_immediate=True)
            with connection.begin():
                yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        with self.engine.connect() as connection, connection.begin():
            yield connection
