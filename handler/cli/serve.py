"""Commands that run reghook: ``serve``, ``worker`` and ``db upgrade``."""

from __future__ import annotations

import click

from handler.cli.inputs import load_settings
from handler.cli.output import err_console


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="Serve the web app only.")
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, no_worker: bool, threads: int) -> None:
    """Serve the web app with a worker thread beside it (the embedded default)."""
    from handler.bootstrap import serve_embedded, tracking_server

    settings = load_settings()
    if not no_worker:
        err_console.print(f"reghook: governing with {tracking_server(settings)}", markup=False,
                          highlight=False)
    serve_embedded(settings, host=host, port=port, with_worker=not no_worker, threads=threads)


@click.command("worker")
@click.option("--once", is_flag=True, help="Process until the queue is empty, then exit 0.")
def worker(once: bool) -> None:
    """Process queued events (the Procfile's worker)."""
    from handler.bootstrap import prepare_store, run_worker, tracking_server

    settings = load_settings()
    prepare_store(settings)  # before saying anything: a refusal is the only line
    err_console.print(f"reghook: governing with {tracking_server(settings)}", markup=False,
                      highlight=False)
    run_worker(settings, once=once)


@click.group("db")
def db_group() -> None:
    """The event store."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the event store (Alembic)."""
    from handler.store import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    err_console.print("event store is at the newest schema")
