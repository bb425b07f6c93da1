"""The ``reghook`` command line: each command is a thin call into a use case.

Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
``--json`` output is stable for scripts; the default is a readable table.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from handler.errors import ConfigError, Conflict, ReghookError
from handler.settings import Settings

# Piped output (less, grep, CI logs) gets a wide table instead of rich's
# 80-column default, so ids are never cut.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise click.UsageError(f"Invalid REGHOOK_* settings: {exc}") from exc


def _store(settings: Settings) -> Any:
    from handler.store import Store

    return Store.from_url(settings.database_url)


def parse_since(value: str | None) -> datetime | None:
    """``24h``, ``30m``, ``7d`` or an ISO time → an aware UTC datetime."""
    if not value:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value[-1:] in units and value[:-1].isdigit():
        return datetime.now(UTC) - timedelta(seconds=int(value[:-1]) * units[value[-1]])
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use 24h, 30m, 7d or an ISO 8601 time",
                                 param_hint="--since") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def emit_json(value: Any) -> None:
    """Print machine-readable output (stable keys, sorted)."""
    click.echo(json.dumps(value, indent=2, sort_keys=True))


class ReghookGroup(click.Group):
    """Turns reghook's own errors into clean messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            err_console.print(f"[red]configuration error:[/red] {exc}")
            sys.exit(2)
        except ReghookError as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            sys.exit(1)


@click.group(cls=ReghookGroup)
@click.version_option(package_name="reghook")
def main() -> None:
    """reghook: verify, store and govern MLflow / Databricks model events."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="Serve the web app only.")
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, no_worker: bool, threads: int) -> None:
    """Serve the web app with a worker thread beside it (the embedded default)."""
    from handler.bootstrap import serve_embedded

    serve_embedded(_settings(), host=host, port=port, with_worker=not no_worker, threads=threads)


@main.command()
@click.option("--once", is_flag=True, help="Process until the queue is empty, then exit 0.")
def worker(once: bool) -> None:
    """Process queued events (the Procfile's worker)."""
    from handler.bootstrap import run_worker

    run_worker(_settings(), once=once)


@main.group()
def db() -> None:
    """The event store."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the event store (Alembic)."""
    from handler.store import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    err_console.print("event store is at the newest schema")


@main.group()
def events() -> None:
    """Stored events."""


def _events_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(show_lines=False, header_style="bold")
    # Ids stay whole (people copy them into `events show` and `replay`); the
    # free-text column gives way when the terminal is narrow.
    table.add_column("id", no_wrap=True, min_width=36)
    for column, width in (("received", 10), ("source", 6), ("type", 12), ("status", 7),
                          ("tries", 5)):
        table.add_column(column, overflow="fold", min_width=width)
    table.add_column("reason / last error", overflow="ellipsis", no_wrap=True, max_width=60)
    colours = {"done": "green", "failed": "red", "rejected": "red", "queued": "yellow",
               "processing": "cyan", "ignored": "dim"}
    for row in rows:
        status = row["status"]
        table.add_row(
            row["id"], (row["received_at"] or "")[:19].replace("T", " "), row["source"],
            row["type"], f"[{colours.get(status, 'white')}]{status}[/]", str(row["attempts"]),
            row["last_error"] or row.get("reason") or "",
        )
    return table


@events.command("list")
@click.option("--status")
@click.option("--source")
@click.option("--type", "event_type")
@click.option("--since", help="24h, 30m, 7d or an ISO time")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True)
def events_list(status: str | None, source: str | None, event_type: str | None,
                since: str | None, limit: int, as_json: bool) -> None:
    """List stored events, newest first."""
    rows = _store(_settings()).list_events(status=status, source=source, event_type=event_type,
                                           since=parse_since(since), limit=limit)
    if as_json:
        emit_json({"events": rows})
    elif not rows:
        err_console.print("no events")
    else:
        console.print(_events_table(rows))


@events.command("show")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True)
def events_show(event_id: str, as_json: bool) -> None:
    """Show one event with its body, attempts and the actions it caused."""
    found = _store(_settings()).get_event(event_id)
    if found is None:
        err_console.print(f"[red]no event {event_id}[/red]")
        sys.exit(1)
    if as_json:
        emit_json(found)
        return
    console.print(_events_table([found]))
    console.print("[bold]headers[/bold]", found["headers"])
    console.print("[bold]body[/bold]")
    try:
        console.print_json(found["body"])
    except Exception:  # noqa: BLE001 - a rejected body need not be JSON; show it raw
        console.print(found["body"], markup=False)
    for attempt in found["attempt_log"]:
        console.print(f"attempt {attempt['number']} by {attempt['worker']}: "
                      f"{attempt['outcome']} {attempt['error'] or ''}", markup=False)
    for action in found["actions"]:
        console.print(f"{action['at']} {action['kind']} {action['model']} v{action['version']} "
                      f"{action['alias'] or ''} by {action['actor']}", markup=False)


@main.command()
@click.argument("event_ids", nargs=-1)
@click.option("--status", help="Replay every event in this status (e.g. failed).")
@click.option("--since", help="With --status: only events received since (24h, ISO time).")
@click.option("--dry-run", is_flag=True, help="Show what would be replayed.")
@click.option("--json", "as_json", is_flag=True)
def replay(event_ids: tuple[str, ...], status: str | None, since: str | None,
           dry_run: bool, as_json: bool) -> None:
    """Queue stored events again (a copy with replay_of; the original is kept)."""
    if bool(event_ids) == bool(status):
        raise click.UsageError("give event ids or --status, not both")
    store = _store(_settings())
    ids = list(event_ids) or store.event_ids(status=status or "", since=parse_since(since))
    if dry_run:
        emit_json({"would_replay": ids}) if as_json else console.print(
            f"would replay {len(ids)} event(s)", *ids)
        return
    results, missing, refused = [], [], []
    from rich.progress import track

    for event_id in track(ids, description="replaying", console=err_console,
                          disable=len(ids) < 10 or as_json):
        try:
            new_id = store.replay(event_id)
        except Conflict as exc:
            refused.append({"event_id": event_id, "reason": exc.detail})
            continue
        (results.append({"event_id": new_id, "replay_of": event_id}) if new_id
         else missing.append(event_id))
    if as_json:
        emit_json({"replayed": results, "missing": missing, "refused": refused})
    else:
        for item in results:
            console.print(f"{item['replay_of']} → {item['event_id']} queued")
        for event_id in missing:
            err_console.print(f"[red]no event {event_id}[/red]")
        for item in refused:
            err_console.print(f"[red]{item['event_id']}: {item['reason']}[/red]")
    if missing or refused:
        sys.exit(1)


@main.group()
def emit() -> None:
    """Send signed events to a reghook."""


@emit.command("run-finished")
@click.option("--url", required=True, help="reghook's base URL or its /events URL")
@click.option("--run-id", required=True)
@click.option("--model", help="registered model name (else the policy's experiment decides)")
@click.option("--secret", envvar="REGHOOK_EMIT_SECRET",
              help="whsec_… (default: the first of REGHOOK_EVENTS_SECRETS)")
def emit_run_finished(url: str, run_id: str, model: str | None, secret: str | None) -> None:
    """Post a signed run.finished event (a training job's last step)."""
    from handler.emit import post_run_finished

    secret = secret or next(iter(_settings().events_secret_list), None)
    if not secret:
        raise click.UsageError("no secret: pass --secret or set REGHOOK_EVENTS_SECRETS")
    response = post_run_finished(url, secret, run_id, model)
    click.echo(response.text.strip())
    sys.exit(0 if response.ok else 1)


# Registry-facing commands live in their own module; importing it registers them.
from handler import cli_governance  # noqa: E402,F401
