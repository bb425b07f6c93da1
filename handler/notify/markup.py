"""Sender text made literal in each channel's markup — pure string functions.

Model names, job names, versions, aliases, actors, reasons, tag values and
gate details come from senders (docs/processing.md, "Channels"). In a Slack or Teams
message they must read as text: never a link, a mention or formatting. The
links reghook builds itself (the run's page in MLflow) are added by the
renderer around already escaped text. The ``webhook`` and ``log`` channels are
plain JSON and need none of this.
"""

from __future__ import annotations

import re

# Slack mrkdwn has no escape character: '&', '<' and '>' become entities (so no
# <url|text> link and no <!channel> mention can be written), and the formatting
# characters become look-alikes that Slack does not interpret.
_SLACK_LOOKALIKES = {"*": "\N{ASTERISK OPERATOR}", "~": "\N{TILDE OPERATOR}",
                     "`": "\N{MODIFIER LETTER GRAVE ACCENT}", "_": "\N{MODIFIER LETTER LOW MACRON}"}
# An underscore between two word characters (churn_model) formats nothing, and
# changing it would make a model name wrong when copied: left as it is.
_FORMATTING_UNDERSCORE = re.compile(r"(?<!\w)_|_(?!\w)")

# Adaptive Card markdown (Teams) is CommonMark-like: a backslash makes the next
# character literal. Escaping '[' and ']' is what stops [text](url) links.
_TEAMS_SPECIAL = re.compile(r"[\\\[\]*`~]")
_TEAMS_LINE_START = re.compile(r"^([ \t]*)([#>+\-]|\d+(?=[.)]))", re.MULTILINE)


def slack_text(text: str) -> str:
    """``text`` as literal Slack mrkdwn: no links, no mentions, no formatting."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _FORMATTING_UNDERSCORE.sub(_SLACK_LOOKALIKES["_"], text)
    for character in "*~`":
        text = text.replace(character, _SLACK_LOOKALIKES[character])
    return text


def slack_url(url: str) -> str:
    """A URL fit for Slack's ``<url|text>``: characters that would end it percent-encoded."""
    return url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")


def teams_text(text: str) -> str:
    """``text`` as literal Adaptive Card markdown: no links, lists, headings or formatting."""
    text = _TEAMS_SPECIAL.sub(lambda m: "\\" + m.group(0), text)
    text = _FORMATTING_UNDERSCORE.sub(r"\\_", text)
    # A line starting "# ", "- ", "> " or "1. " would become a heading, list or quote.
    return _TEAMS_LINE_START.sub(_escape_line_start, text)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker = match.group(1), match.group(2)
    if marker.isdigit():  # "1." → "1\." (the number stays, the list does not)
        return indent + marker + "\\"
    return indent + "\\" + marker
