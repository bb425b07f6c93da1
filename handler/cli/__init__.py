"""The ``reghook`` command line: each command is a thin call into a use case.

Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
``--json`` output is stable for scripts; the default is a readable table.

This module owns the top-level group and registers the commands of its
sibling modules; they never import it back, so the package has no cycles::

    inputs      settings, the store and --since, read with exit code 2 on error
    output      consoles, JSON and tables
    serve       serve, worker, db upgrade
    events      events list / show, replay
    governance  govern, promote, rollback, deprecate, history, sweep
    policy      policy check / init / schema
    compare     versions side by side, from the event store
    onboarding  webhooks install, emit, demo
"""

from __future__ import annotations

import sys
from typing import Any

import click

from handler.cli.compare import compare
from handler.cli.events import events_group, replay
from handler.cli.govern import govern
from handler.cli.governance import deprecate, history, promote, rollback, sweep
from handler.cli.onboarding import demo, emit_group, webhooks_group
from handler.cli.output import err_console, safe
from handler.cli.policy import policy_group
from handler.cli.serve import db_group, serve, worker
from handler.cli.watch import watch
from handler.errors import ConfigError, ReghookError

__all__ = ["ReghookGroup", "main"]


class ReghookGroup(click.Group):
    """Turns reghook's own errors into clean messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a :class:`ConfigError` exits 2, any other :class:`ReghookError` exits 1."""
        try:
            return super().invoke(ctx)
        # ConfigError is a ReghookError, so it must be caught first.
        except ConfigError as exc:
            err_console.print(f"[red]configuration error:[/red] {safe(exc)}", highlight=False)
            sys.exit(2)
        except ReghookError as exc:
            err_console.print(f"[red]error:[/red] {safe(exc)}", highlight=False)
            sys.exit(1)
        except ModuleNotFoundError as exc:
            # `pip install reghook` is the light client (emit); the rest needs the server stack.
            if (exc.name or "").split(".")[0] not in SERVER_STACK:
                raise
            err_console.print(f"[red]configuration error:[/red] this command needs "
                              f"{safe(exc.name)}: pip install 'reghook\\[server]'", highlight=False)
            sys.exit(2)


# Packages of the `server` extra (pyproject.toml): missing in a light install.
SERVER_STACK = frozenset({"flask", "werkzeug", "gunicorn", "sqlalchemy", "alembic", "psycopg",
                          "yaml", "structlog", "prometheus_client", "mlflow", "databricks"})


@click.group(cls=ReghookGroup)
@click.version_option(package_name="reghook")
def main() -> None:
    """reghook: verify, store and govern MLflow / Databricks model events."""


for _command in (serve, worker, db_group,
                 events_group, replay,
                 govern, promote, rollback, deprecate, history, compare, sweep, watch,
                 policy_group, webhooks_group, emit_group, demo):
    main.add_command(_command)
