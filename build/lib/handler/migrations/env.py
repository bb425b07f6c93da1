"""Alembic environment: runs migrations on the connection reghook hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from handler.store.tables import metadata

config = context.config


def run() -> None:
    """Run migrations online, on a given connection or one built from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section) or {},
                                prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
