"""How commands print: rich consoles for people, sorted JSON for scripts, and the shared tables.

Stored data is sender-controlled (an event type, a reason, a model name), so
it never reaches the terminal as rich markup or as control characters: a
``[link=…]`` or an OSC-8 escape would print a clickable link, a ``[/x]``
would crash the table. Table cells are :func:`cell` (a rich ``Text``, never
parsed) and values put into markup lines go through :func:`safe`.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

# C0 and C1 controls (ESC starts CSI/OSC sequences; 0x9b and 0x9d are their
# 8-bit forms), DEL, and the bidirectional overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# Piped output (less, grep, CI logs) gets a wide table instead of rich's
# 80-column default, so ids are never cut.
console = Console(width=None if sys.stdout.isatty() else 200)
# soft_wrap: a message is one line however narrow the terminal (scripts grep it).
err_console = Console(stderr=True, soft_wrap=True)

STATUS_COLOURS = {"done": "green", "failed": "red", "rejected": "red", "queued": "yellow",
                  "processing": "cyan", "ignored": "dim"}


def clean(value: object) -> str:
    """``value`` as text with every control character shown as ``?`` (newlines and tabs as spaces)."""
    text = "" if value is None else str(value)
    return _CONTROL.sub(lambda m: " " if m.group() in "\n\r\t" else "?", text)


def safe(value: object) -> str:
    """``value`` cleaned and escaped, to put inside a rich markup string."""
    return escape(clean(value))


def cell(value: object, style: str = "") -> Text:
    """``value`` as a table cell: cleaned, and a ``Text`` so rich never reads markup in it."""
    return Text(clean(value), style=style)


def waiting(message: str) -> Live:
    """A spinner on stderr while a command waits (a version becoming READY, a registry look).

    Shown only on a terminal; stdout is left alone (``--json`` documents and
    the ``log`` channel's lines stay where they belong).
    """
    return Live(Spinner("dots", Text(clean(message))), console=err_console, transient=True,
                redirect_stdout=False, redirect_stderr=False)


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
            cell(row["id"]), cell((row["received_at"] or "")[:19].replace("T", " ")),
            cell(row["source"]), cell(row["type"]),
            cell(status, STATUS_COLOURS.get(status, "white")), cell(row["attempts"]),
            cell(row["last_error"] or row.get("reason") or ""),
        )
    return table


def history_table(model: str, entries: list[dict[str, Any]]) -> Table:
    """A model's audit trail as a table, one decision or alias move a row."""
    table = Table(title=Text(f"history of {clean(model)}"), header_style="bold")
    for column in ("time", "what", "version", "alias", "by", "event", "detail"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        detail = entry["detail"]
        summary = detail.get("reason") or detail.get("status") or ", ".join(
            f"{k}={v}" for k, v in detail.items() if not isinstance(v, (dict, list)))
        table.add_row(*(cell(value) for value in (
            (entry["at"] or "")[:19].replace("T", " "), entry["kind"], entry["version"] or "",
            entry["alias"] or "", entry["actor"], entry["event_id"] or "", str(summary)[:80])))
    return table
