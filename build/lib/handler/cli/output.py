"""How commands print: rich consoles for people, sorted JSON for scripts, and the shared tables."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

# Piped output (less, grep, CI logs) gets a wide table instead of rich's
# 80-column default, so ids are never cut.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)

STATUS_COLOURS = {"done": "green", "failed": "red", "rejected": "red", "queued": "yellow",
                  "processing": "cyan", "ignored": "dim"}


def emit_json(value: Any) -> None:
    """Print machine-readable output (stable keys, sorted)."""
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def events_table(rows: list[dict[str, Any]]) -> Table:
    """Stored events as a table: id, time, source, type, coloured status, tries, reason."""
    table = Table(show_lines=False, header_style="bold")
    # Ids stay whole (people copy them into `events show` and `replay`); the
    # free-text column gives way when the terminal is narrow.
    table.add_column("id", no_wrap=True, min_width=36)
    for column, width in (("received", 10), ("source", 6), ("type", 12), ("status", 7),
                          ("tries", 5)):
        table.add_column(column, overflow="fold", min_width=width)
    table.add_column("reason / last error", overflow="ellipsis", no_wrap=True, max_width=60)
    for row in rows:
        status = row["status"]
        table.add_row(
            row["id"], (row["received_at"] or "")[:19].replace("T", " "), row["source"],
            row["type"], f"[{STATUS_COLOURS.get(status, 'white')}]{status}[/]", str(row["attempts"]),
            row["last_error"] or row.get("reason") or "",
        )
    return table


def history_table(model: str, entries: list[dict[str, Any]]) -> Table:
    """A model's audit trail as a table, one decision or alias move a row."""
    table = Table(title=f"history of {model}", header_style="bold")
    for column in ("time", "what", "version", "alias", "by", "event", "detail"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        detail = entry["detail"]
        summary = detail.get("reason") or detail.get("status") or ", ".join(
            f"{k}={v}" for k, v in detail.items() if not isinstance(v, (dict, list)))
        table.add_row((entry["at"] or "")[:19].replace("T", " "), entry["kind"],
                      entry["version"] or "", entry["alias"] or "", entry["actor"],
                      entry["event_id"] or "", str(summary)[:80])
    return table
