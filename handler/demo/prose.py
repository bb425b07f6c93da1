"""The demo's notifications read as prose: the ``log`` channel's JSON lines, rendered for a person.

In production the ``log`` channel writes one JSON object per line for log
pipelines; in the demo a person reads the terminal, so each line becomes its
headline and the gates it names.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape


class ProseNotifications:
    """A text stream for the notifier that prints each JSON notification as a sentence."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def write(self, text: str) -> int:
        """Print each complete JSON line as prose (anything else as it is)."""
        for line in text.splitlines():
            if line.strip():
                self.console.print(render(line), highlight=False)
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""


def render(line: str) -> str:
    """``   📣 <headline>`` and one indented line per gate (rich markup, values escaped)."""
    try:
        note: dict[str, Any] = json.loads(line)
    except ValueError:
        return escape(line)
    text = f"   [bold]📣 {escape(str(note.get('summary', note.get('notification', ''))))}[/]"
    gates = (note.get("data") or {}).get("gates") or []
    for gate in gates:
        mark = "[green]ok[/]  " if gate.get("passed") else "[red]FAIL[/]"
        text += (f"\n      {mark} {escape(str(gate.get('gate')))}: observed "
                 f"{escape(_shown(gate.get('observed')))}, expected {escape(_shown(gate.get('expected')))}")
    return text


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, dict)):
        return f"{len(value)} item(s)"
    return str(value)
