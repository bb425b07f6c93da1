"""Render an :class:`~handler.outcomes.Outcome` for each channel — pure: values in, dicts out.

Slack gets Block Kit, Teams an Adaptive Card in the Workflows envelope, the
``webhook`` channel a JSON body (signed later, in ``send``), the ``log``
channel one JSON line. Every one leads with the headline, then the detail
(see :mod:`handler.notify.wording`). Limits are Slack's and Teams' published
ones (docs/processing.md); content that
does not fit is shortened with "…" and the message says how many gates it
left out — a message is never rejected for its size.
"""

from __future__ import annotations

import json
from typing import Any

from handler.notify.markup import slack_text, slack_url, teams_text
from handler.notify.wording import (
    alias_text,
    clip,
    facts,
    gate_label,
    gate_observation,
    gate_text,
    gates_summary,
    headline,
    public,
    replay_hint,
    run_link,
    style,
    version_link,
)
from handler.outcomes import Outcome
from handler.verdict import GateResult

SLACK_MAX_BLOCKS = 50
SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150
SLACK_MAX_FIELDS = 10
SLACK_FIELD_CHARS = 2000
TEAMS_MAX_BYTES = 26 * 1024
_LINE_CHARS = 280  # ten lines of this always fit one 3000-character section
_LINES_PER_SECTION = 10
_TEAMS_COLOR = {"good": "Good", "bad": "Attention", "warning": "Warning", "neutral": "Default"}


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes posted for a payload (sizes are measured on these)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def select_gates(gates: tuple[GateResult, ...], capacity: int) -> tuple[list[GateResult], int, int]:
    """The gates to show when only ``capacity`` fit: failed ones first, policy order kept.

    Returns (shown, how many elided, how many of those failed).
    """
    if len(gates) <= capacity:
        return list(gates), 0, 0
    ranked = sorted(range(len(gates)), key=lambda i: (gates[i].passed, i))
    keep = sorted(ranked[: max(capacity, 0)])
    elided = [gates[i] for i in ranked[max(capacity, 0):]]
    return [gates[i] for i in keep], len(elided), sum(not g.passed for g in elided)


def _elision(count: int, failed: int) -> str:
    return (f"… {count} more gates not shown ({failed} failed) — "
            "the audit trail (reghook history) has every gate")


# --- Slack ------------------------------------------------------------------------


# Every sender string goes through slack_text (handler/notify/markup.py); verbatim
# also stops Slack from turning bare URLs and channel names into links.
_esc = slack_text


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(clip(text, SLACK_SECTION_CHARS))}


def _slack_fields(outcome: Outcome, ui: str | None) -> list[dict[str, str]]:
    pairs = [("Model", f"`{_esc(clip(outcome.model, 300))}`")]
    if outcome.version:
        link = version_link(outcome, ui)
        pairs.append(("Version", f"<{slack_url(link)}|v{_esc(outcome.version)}>" if link
                      else f"v{_esc(outcome.version)}"))
    if outcome.run_id:
        link = run_link(outcome, ui)
        run = _esc(outcome.run_id)
        pairs.append(("Run", f"<{slack_url(link)}|{run}>" if link else f"`{run}`"))
    pairs.append(("Event", f"`{_esc(outcome.event_id)}`"))
    pairs.extend((title, _esc(value)) for title, value in facts(outcome))
    return [_mrkdwn(clip(f"*{_esc(title)}*\n{value}", SLACK_FIELD_CHARS))
            for title, value in pairs[:SLACK_MAX_FIELDS]]


def _slack_gates(gates: tuple[GateResult, ...], max_sections: int) -> list[dict[str, Any]]:
    if not gates or max_sections < 1:
        return []
    # Title and elision note take a line each; the rest is gates.
    shown, elided, elided_failed = select_gates(gates, max_sections * _LINES_PER_SECTION - 1)
    if elided:
        shown, elided, elided_failed = select_gates(gates, max_sections * _LINES_PER_SECTION - 2)
    lines = [clip(f"*Gates* — {_esc(gates_summary(gates))}", _LINE_CHARS)]
    lines += [clip(_esc(gate_text(g)), _LINE_CHARS) for g in shown]
    if elided:
        lines.append(_elision(elided, elided_failed))
    return [_section("\n".join(lines[i:i + _LINES_PER_SECTION]))
            for i in range(0, len(lines), _LINES_PER_SECTION)]


def slack_payload(outcome: Outcome, mlflow_ui_url: str | None = None) -> dict[str, Any]:
    """Block Kit for a Slack incoming webhook: ``{"text", "blocks"}`` within Slack's limits.

    ``text`` (the headline) is what Slack shows in notifications and
    screen readers; the blocks carry the detail.
    """
    outcome = public(outcome)
    head = headline(outcome)
    blocks: list[dict[str, Any]] = [
        {"type": "header",
         "text": {"type": "plain_text", "text": clip(head, SLACK_HEADER_CHARS), "emoji": True}},
        {"type": "section", "fields": _slack_fields(outcome, mlflow_ui_url)},
    ]
    if outcome.reason:
        blocks.append(_section(f"*Reason*\n{_esc(clip(outcome.reason, 2800))}"))
    if outcome.alias_changes:
        blocks.append(_section("*Aliases*\n" + "\n".join(
            "• " + _esc(clip(alias_text(a), 200)) for a in outcome.alias_changes)))
    context = {"type": "context", "elements": [_mrkdwn(clip(
        f"Event `{_esc(outcome.event_id)}` · replay: `{_esc(replay_hint(outcome))}`",
        SLACK_SECTION_CHARS))]}
    blocks += _slack_gates(outcome.gates, SLACK_MAX_BLOCKS - len(blocks) - 1)
    blocks.append(context)
    # Slack reads the top-level text as mrkdwn too: "<!channel>" in a reason would ping.
    return {"text": clip(_esc(head), SLACK_SECTION_CHARS), "blocks": blocks}


# --- Microsoft Teams --------------------------------------------------------------


def _text(text: str, **style_: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style_}


def _teams_card(outcome: Outcome, ui: str | None, max_gates: int) -> dict[str, Any]:
    # Every TextBlock and FactSet is markdown to Teams: sender text goes through
    # teams_text (handler/notify/markup.py); the links are reghook's own actions.
    esc = teams_text
    tone = _TEAMS_COLOR[style(outcome.kind)[2]]
    fact_pairs = [("Model", clip(outcome.model, 300))]
    if outcome.version:
        fact_pairs.append(("Version", f"v{outcome.version}"))
    if outcome.run_id:
        fact_pairs.append(("Run", outcome.run_id))
    fact_pairs.append(("Event", outcome.event_id))
    fact_pairs.extend(facts(outcome))
    body: list[dict[str, Any]] = [
        _text(esc(headline(outcome)), weight="Bolder", size="Medium", color=tone),
        {"type": "FactSet", "facts": [{"title": esc(t), "value": esc(v)} for t, v in fact_pairs]},
    ]
    if outcome.reason:
        body.append(_text(esc(clip(outcome.reason, 2000))))
    if outcome.gates:
        shown, elided, elided_failed = select_gates(outcome.gates, max_gates)
        body.append(_text(f"Gates — {esc(gates_summary(outcome.gates))}", weight="Bolder"))
        body.append({"type": "FactSet", "facts": [
            {"title": esc(clip(gate_label(g), 120)), "value": esc(clip(gate_observation(g), 500))}
            for g in shown]})
        if elided:
            body.append(_text(_elision(elided, elided_failed), isSubtle=True))
    if outcome.alias_changes:
        body.append(_text("Aliases", weight="Bolder"))
        body.append(_text("\n".join(f"- {esc(clip(alias_text(a), 200))}"
                                    for a in outcome.alias_changes[:50])))
    body.append(_text(f"Event {esc(outcome.event_id)} · replay: {esc(replay_hint(outcome))}",
                      isSubtle=True, size="Small"))
    links = [("Open run in MLflow", run_link(outcome, ui)),
             ("Open model version", version_link(outcome, ui))]
    actions = [{"type": "Action.OpenUrl", "title": t, "url": u} for t, u in links if u]
    if actions:
        body.append({"type": "ActionSet", "actions": actions})
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": None,
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard", "version": "1.4", "body": body},
    }]}


def teams_payload(outcome: Outcome, mlflow_ui_url: str | None = None) -> dict[str, Any]:
    """An Adaptive Card 1.4 in the Workflows webhook envelope, kept under ~26 KB.

    When every gate does not fit, passed gates are left out first, then
    failed ones, and the card says how many.
    """
    outcome = public(outcome)
    card: dict[str, Any] = {}
    for max_gates in (len(outcome.gates), 200, 100, 50, 20, 10, 0):
        card = _teams_card(outcome, mlflow_ui_url, max_gates)
        if len(encode(card)) <= TEAMS_MAX_BYTES:
            break
    return card


# --- webhook and log --------------------------------------------------------------


def webhook_body(outcome: Outcome, mlflow_ui_url: str | None = None) -> dict[str, Any]:
    """The ``webhook`` channel's JSON: ``type``, a ``summary`` line, links, and ``data``.

    ``data`` is the outcome itself, so a receiver can read it back with
    ``Outcome.from_json``.
    """
    outcome = public(outcome)
    return {
        "type": f"reghook.{outcome.kind}",
        "summary": headline(outcome),
        "links": {"run": run_link(outcome, mlflow_ui_url),
                  "model_version": version_link(outcome, mlflow_ui_url)},
        "data": outcome.to_json(),
    }


def log_line(outcome: Outcome, mlflow_ui_url: str | None = None) -> str:
    """The ``log`` channel's one JSON line: the outcome only, nothing about any channel."""
    body = webhook_body(outcome, mlflow_ui_url)
    return json.dumps({"notification": outcome.kind, **body}, sort_keys=True, default=str)
