"""Stored data is sender-controlled: the CLI prints it literally, never as markup or escapes.

An event type ``[/x]`` once crashed ``events list``; ``[link=…]`` and OSC-8
sequences printed clickable links (docs/cli.md#events-list).
"""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from rich.console import Console

from handler.cli import main
from handler.cli.output import events_table, history_table
from handler.records import AuditEntry
from handler.store import Store

CLOSING_TAG = "[/x]"
MARKUP_LINK = "[link=https://evil.example]click[/link]"
OSC8_LINK = "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"
HOSTILE = (CLOSING_TAG, MARKUP_LINK, OSC8_LINK, "red\x1b[31mtext\x9b2J\u202egnp.exe")


def store_event(store: Store, event_type: str) -> str:
    event_id, _ = store.ingest(source="events", event_type=event_type,
                               idempotency_key=f"k-{event_type!r}", status="queued",
                               body=json.dumps({"type": event_type, "note": OSC8_LINK}),
                               headers={"X-Note": OSC8_LINK})
    return event_id


def terminal(width: int) -> tuple[Console, io.StringIO]:
    """A console that believes it is a colour terminal of ``width`` columns (links would work)."""
    out = io.StringIO()
    return Console(file=out, width=width, force_terminal=True, color_system="truecolor"), out


def assert_no_escapes_from_data(rendered: str) -> None:
    # rich's own colours are CSI "\x1b[…m"; a link (OSC 8) or a stored ESC that is not
    # a colour would be the data talking to the terminal.
    assert "\x1b]" not in rendered
    assert "\x9b" not in rendered and "\u202e" not in rendered


@pytest.mark.parametrize("width", [60, 100, 200])
def test_events_table_at_a_real_terminal_width_prints_hostile_types_literally(
        store, width):
    for event_type in HOSTILE:
        store_event(store, event_type)
    console, out = terminal(width)
    console.print(events_table(store.list_events(limit=10)))
    rendered = out.getvalue()
    assert_no_escapes_from_data(rendered)
    if width == 200:  # wide enough that no cell folds: the markup is there, as typed
        assert CLOSING_TAG in rendered and MARKUP_LINK in rendered


def test_history_table_prints_hostile_model_and_actor_literally(store):
    event_id = store_event(store, "run.finished")
    store.record(entries=[AuditEntry("validated", MARKUP_LINK, "1", event_id, actor=OSC8_LINK,
                                     detail={"reason": CLOSING_TAG})])
    console, out = terminal(200)
    console.print(history_table(MARKUP_LINK, store.audit_trail(MARKUP_LINK)))
    rendered = out.getvalue()
    assert_no_escapes_from_data(rendered)
    assert MARKUP_LINK in rendered and CLOSING_TAG in rendered


def test_events_list_and_show_print_hostile_data_literally(monkeypatch, sqlite_url, store):
    monkeypatch.setenv("REGHOOK_DATABASE_URL", sqlite_url)
    ids = [store_event(store, event_type) for event_type in HOSTILE]
    listed = CliRunner().invoke(main, ["events", "list"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert CLOSING_TAG in listed.stdout and MARKUP_LINK in listed.stdout
    assert "\x1b" not in listed.stdout and "\x9b" not in listed.stdout
    for event_id in ids:
        shown = CliRunner().invoke(main, ["events", "show", event_id], catch_exceptions=False)
        assert shown.exit_code == 0, shown.output
        assert "\x1b" not in shown.stdout and "\x9b" not in shown.stdout
        assert "\u202e" not in shown.stdout
