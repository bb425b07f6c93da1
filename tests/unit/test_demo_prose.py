"""The demo prints notifications as sentences a person reads, not as JSON lines."""

from __future__ import annotations

import io

from rich.console import Console

from handler.demo.prose import ProseNotifications
from handler.notify.render import log_line
from handler.outcomes import Outcome
from handler.verdict import GateResult


def test_a_notification_line_becomes_its_headline_and_its_gates():
    out = io.StringIO()
    stream = ProseNotifications(Console(file=out, width=120, color_system=None))
    outcome = Outcome("rejected", "churn", "2", "evt_1", run_id="r1",
                      gates=(GateResult("recall", False, 0.41, ">=0.7"),))
    stream.write(log_line(outcome) + "\n")
    text = out.getvalue()
    assert "📣" in text and "churn" in text and "{" not in text
    assert "FAIL recall: observed 0.410, expected >=0.7" in text


def test_markup_in_a_notification_is_printed_literally():
    out = io.StringIO()
    stream = ProseNotifications(Console(file=out, width=200, color_system=None))
    stream.write(log_line(Outcome("registered", "[red]x[/red]", "1", "evt_1")) + "\n")
    assert "[red]x[/red]" in out.getvalue()
