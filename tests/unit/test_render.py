"""Rendering: every outcome kind, every channel, against Slack's and Teams' published shapes and limits.

Snapshots live in tests/fixtures/snapshots/<kind>.json, one readable file per
outcome with all four channels. After an intended change, regenerate them
with ``UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_render.py`` and
read the diff.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler.notify.render import (
    TEAMS_MAX_BYTES,
    encode,
    log_line,
    slack_payload,
    teams_payload,
    webhook_body,
)
from handler.notify.wording import headline, public
from handler.outcomes import OUTCOME_KINDS, AliasChange, Outcome
from handler.verdict import GateResult

SNAPSHOTS = Path(__file__).parent.parent / "fixtures" / "snapshots"
UI = "http://mlflow.internal:5000"
RUN = "4f6c2d1e9a8b47c3b2a1d0e9f8c7b6a5"
EVENT = "evt_0123456789abcdef0123456789abcdef"
MODEL = "churn_model"

PASSING = (
    GateResult("recall", True, 0.81, ">=0.70"),
    GateResult("precision", True, 0.22, ">=0.15"),
    GateResult("champion", True, None, None, "no champion yet"),
    GateResult("required_tags", True, ["git_commit"], ["git_commit"]),
)
FAILING = (
    GateResult("recall", False, 0.62, ">=0.70"),
    GateResult("precision", False, 0.12, ">=0.15"),
    GateResult("champion", True, 0.62, "recall >= 0.60 (champion v2 0.62 - 0.02)"),
    GateResult("signature", True, "same columns", "match_champion"),
    GateResult("required_tags", True, ["git_commit"], ["git_commit"]),
)


def sample(kind: str) -> Outcome:
    """A realistic outcome of each kind, as governance would produce it."""
    base = {"kind": kind, "model": MODEL, "version": "3", "event_id": EVENT, "run_id": RUN}
    per_kind: dict[str, dict] = {
        "registered": {"gates": PASSING, "alias_changes": (AliasChange("staging", "3"),)},
        "rejected": {"version": "4", "gates": FAILING},
        "promoted": {"gates": PASSING, "actor": "alice@example.com",
                     "alias_changes": (AliasChange("champion", "3", "2"),)},
        "guard_reverted": {"version": "5", "actor": "bob@example.com",
                           "reason": "v5 has not passed its gates and is not approved",
                           "alias_changes": (AliasChange("champion", "3", "5"),)},
        "rolled_back": {"version": "2", "actor": "carol@example.com",
                        "reason": "latency regression in production",
                        "alias_changes": (AliasChange("champion", "2", "3"),)},
        "failed": {"version": "6", "gates": (),
                   "reason": "MLflow answered 503 eight times (http://mlflow.internal:5000/api/"
                             "2.0/mlflow/model-versions/get?name=churn_model&version=6)"},
        "approval_refused": {"version": "4", "gates": FAILING, "actor": "dave@example.com",
                             "reason": "v4 is failed: only a passed version can be approved"},
        "approval_rejected": {"version": "4", "actor": "erin@example.com",
                              "reason": "approval tag set to rejected"},
        "alias_alert": {"version": "5", "actor": "frank@example.com",
                        "reason": "champion was moved to v5, which is not approved (guard: alert)",
                        "alias_changes": (AliasChange("champion", "5", "3"),)},
        "transition_approved": {"gates": PASSING,
                                "extra": {"to_stage": "Production", "from_stage": "Staging"}},
        "transition_rejected": {"version": "4", "gates": FAILING,
                                "extra": {"to_stage": "Production", "from_stage": "Staging"}},
        "stage_transitioned": {"actor": "grace@example.com",
                               "extra": {"to_stage": "Archived", "from_stage": "Production"}},
        "job_failed": {"model": MODEL, "version": None, "run_id": None,
                       "reason": "Databricks job run 991 ended FAILED",
                       "extra": {"job_name": "train_churn", "job_run_id": "991"}},
        "deprecated": {"version": "1", "reason": "superseded: off champion since 2026-10-01, "
                                                 "and not one of the 3 most recent holders",
                       "alias_changes": (AliasChange("staging", None, "1"),)},
    }
    return Outcome(**{**base, **per_kind.get(kind, {})})


def render_all(outcome: Outcome) -> dict[str, object]:
    """The four channel renderings of one outcome."""
    return {"slack": slack_payload(outcome, UI), "teams": teams_payload(outcome, UI),
            "webhook": webhook_body(outcome, UI), "log": json.loads(log_line(outcome, UI))}


SNAPSHOT_KINDS = [*OUTCOME_KINDS, "model_archived"]  # the last: an unknown kind


def as_text(value: object) -> str:
    """A rendering flattened to one string, to search for what it must mention."""
    return json.dumps(value, ensure_ascii=False)


# --- the headline ---------------------------------------------------------------------


def test_registered_headline_gives_outcome_gates_and_aliases_in_one_line():
    assert headline(sample("registered")) == (
        "✅ churn_model v3 registered — passed all 4 gates; staging → v3")


def test_rejected_headline_names_the_failed_gates():
    assert headline(sample("rejected")) == (
        "❌ churn_model v4 rejected — failed 2 of 5 gates: recall, precision")


def test_rejected_run_without_a_version_is_named_by_its_run():
    outcome = Outcome(kind="rejected", model=MODEL, version=None, event_id=EVENT, run_id=RUN,
                      gates=FAILING)
    assert headline(outcome).startswith("❌ churn_model run 4f6c2d1e rejected — failed 2 of 5")


def test_alias_moves_say_where_they_came_from_and_the_reason_follows():
    assert headline(sample("rolled_back")) == (
        "⏪ churn_model v2 rolled back — champion → v2 (was v3); latency regression in production")


def test_stage_transitions_name_the_stage():
    assert "transition to Production approved" in headline(sample("transition_approved"))
    assert "moved to Archived (from Production)" in headline(sample("stage_transitioned"))


def test_unknown_kind_gets_a_generic_but_readable_headline():
    assert headline(sample("model_archived")) == "🔔 churn_model v3 model archived"


@pytest.mark.parametrize("kind", SNAPSHOT_KINDS)
def test_every_channel_leads_with_the_headline(kind):
    outcome = sample(kind)
    head = headline(public(outcome))
    slack, teams = slack_payload(outcome, UI), teams_payload(outcome, UI)
    assert html.unescape(slack["text"]) == head
    assert slack["blocks"][0]["type"] == "header"
    assert slack["blocks"][0]["text"]["text"] == head
    assert teams["attachments"][0]["content"]["body"][0]["text"] == head
    assert webhook_body(outcome)["summary"] == head
    assert json.loads(log_line(outcome))["summary"] == head


# --- the detail ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", OUTCOME_KINDS)
@pytest.mark.parametrize("channel", ["slack", "teams", "webhook", "log"])
def test_message_names_model_version_run_link_gates_aliases_and_event(kind, channel):
    outcome = sample(kind)
    text = as_text(render_all(outcome)[channel])
    assert MODEL in text
    assert EVENT in text
    if outcome.version:
        assert f"v{outcome.version}" in text or f'"version": "{outcome.version}"' in text
    if outcome.run_id:
        assert f"{UI}/#/runs/{RUN}" in text
    for gate in outcome.gates:
        assert gate.gate in text
        for value in (gate.observed, gate.expected):
            if isinstance(value, float):
                assert f"{value:.4g}" in text or str(value) in text
            elif isinstance(value, str) and channel in ("teams", "webhook", "log"):
                assert value in text
    for change in outcome.alias_changes:
        assert change.alias in text


def test_slack_shows_each_gate_as_observed_versus_expected():
    text = as_text(slack_payload(sample("rejected")))
    assert "❌ recall: observed 0.62, expected &gt;=0.70" in text
    assert "✅ signature: observed same columns, expected match_champion" in text


def test_event_id_is_given_with_the_replay_command():
    assert f"reghook replay {EVENT}" in as_text(slack_payload(sample("failed")))
    assert f"reghook replay {EVENT}" in as_text(teams_payload(sample("failed")))


def test_the_outcome_s_own_run_link_wins_over_the_ui_base():
    outcome = Outcome(kind="registered", model=MODEL, version="1", event_id=EVENT,
                      run_id=RUN, run_url="https://dbc-1.cloud.databricks.com/ml/runs/x")
    assert "https://dbc-1.cloud.databricks.com/ml/runs/x" in as_text(slack_payload(outcome, UI))


def test_run_link_uses_the_experiment_when_known():
    outcome = Outcome(kind="registered", model=MODEL, version="1", event_id=EVENT,
                      run_id=RUN, extra={"experiment_id": "42"})
    assert f"{UI}/#/experiments/42/runs/{RUN}" in as_text(teams_payload(outcome, UI))


def test_without_a_ui_url_the_run_id_is_still_shown():
    text = as_text(slack_payload(sample("registered"), None))
    assert RUN in text and "http" not in text


def test_slack_escapes_its_control_characters_in_user_text():
    outcome = Outcome(kind="rejected", model="a<b>&c", version="1", event_id=EVENT,
                      reason="<!channel> look")
    payload = slack_payload(outcome)
    mrkdwn = as_text([payload["text"], payload["blocks"][1:]])  # the header is plain text
    assert "a&lt;b&gt;&amp;c" in mrkdwn and "&lt;!channel&gt;" in mrkdwn
    assert "<!channel>" not in mrkdwn


def test_urls_in_a_failure_reason_are_scrubbed_from_every_rendering():
    for rendering in render_all(sample("failed")).values():
        text = as_text(rendering)
        assert "model-versions/get" not in text
        assert "http://mlflow.internal:5000/<redacted>" in text


# --- sender text is text: no links, mentions or formatting but reghook's own ----------------


ATTACKS = ("[Approve](https://evil.example)", "<https://evil|click>", "<!channel>", "*bold*")
HOSTILE = " ".join(ATTACKS)


def hostile_outcome(kind: str = "job_failed") -> Outcome:
    """Every sender-controlled string carries a link, a mention and formatting."""
    return Outcome(kind=kind, model=f"churn {HOSTILE}", version=f"3{HOSTILE}", event_id=EVENT,
                   run_id=RUN, actor=f"mallory {HOSTILE}", reason=f"boom {HOSTILE}",
                   gates=(GateResult(f"recall {HOSTILE}", False, f"o {HOSTILE}", f"e {HOSTILE}",
                                     f"detail {HOSTILE}"),),
                   alias_changes=(AliasChange(f"champ {HOSTILE}", "3", "2"),),
                   extra={"job_name": HOSTILE, f"tag {HOSTILE}": HOSTILE})


def slack_mrkdwn(payload: dict) -> list[str]:
    """Every string Slack reads as mrkdwn: the top-level text and each mrkdwn object."""
    texts = [payload["text"]]
    for block in payload["blocks"]:
        objects = block.get("fields", []) + block.get("elements", []) + [block.get("text") or {}]
        texts += [o["text"] for o in objects if o.get("type") == "mrkdwn"]
    return texts


def teams_markdown(payload: dict) -> list[str]:
    """Every string Teams reads as markdown: TextBlocks and FactSet titles and values."""
    texts = []
    for element in payload["attachments"][0]["content"]["body"]:
        if element["type"] == "TextBlock":
            texts.append(element["text"])
        if element["type"] == "FactSet":
            texts += [part for fact in element["facts"] for part in (fact["title"], fact["value"])]
    return texts


SLACK_LINK = re.compile(r"<([^>|]*)(?:\|[^>]*)?>")  # <url|text>, <!channel>, <@U1>, <#C1>
MARKDOWN_LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\(")
MARKDOWN_BOLD = re.compile(r"(?<!\\)\*bold(?<!\\)\*")


@pytest.mark.parametrize("kind", ["job_failed", "rejected", "guard_reverted"])
def test_slack_shows_sender_text_literally_and_keeps_its_own_run_link(kind):
    payload = slack_payload(hostile_outcome(kind), UI)
    texts = slack_mrkdwn(payload)
    links = [m.group(1) for text in texts for m in SLACK_LINK.finditer(text)]
    assert links and all(link.startswith(UI + "/#/") for link in links)  # reghook's own only
    assert f"<{UI}/#/runs/{RUN}|{RUN}>" in as_text(payload)
    for text in texts:
        assert "<!channel>" not in text and "<https://evil" not in text
        assert "*bold*" not in text
    # A look-alike asterisk: shown, never formatted.
    assert "\N{ASTERISK OPERATOR}bold\N{ASTERISK OPERATOR}" in as_text(texts)
    assert all(block.get("text", {}).get("verbatim", True) for block in payload["blocks"])
    assert all(f["verbatim"] for block in payload["blocks"] for f in block.get("fields", []))


@pytest.mark.parametrize("kind", ["job_failed", "rejected", "guard_reverted"])
def test_teams_shows_sender_text_literally_and_keeps_its_own_run_link(kind):
    payload = teams_payload(hostile_outcome(kind), UI)
    for text in teams_markdown(payload):
        assert not MARKDOWN_LINK.search(text), text
        assert not MARKDOWN_BOLD.search(text), text
    assert "\\[Approve\\](https://evil.example)" in as_text(teams_markdown(payload)).replace(
        "\\\\", "\\")
    actions = [e for e in payload["attachments"][0]["content"]["body"] if e["type"] == "ActionSet"]
    assert actions[0]["actions"][0] == {"type": "Action.OpenUrl", "title": "Open run in MLflow",
                                        "url": f"{UI}/#/runs/{RUN}"}


def test_a_job_name_cannot_become_an_approve_link_in_a_teams_card():
    outcome = Outcome(kind="job_failed", model=MODEL, version=None, event_id=EVENT,
                      reason="Databricks job run 7 ended FAILED",
                      extra={"job_name": "[Approve](https://evil.example)"})
    card = teams_payload(outcome, UI)
    head = card["attachments"][0]["content"]["body"][0]["text"]
    assert head == ("🔥 churn_model job \\[Approve\\](https://evil.example) failed"
                    " — Databricks job run 7 ended FAILED")


def test_teams_line_starts_cannot_make_headings_lists_or_quotes():
    outcome = Outcome(kind="failed", model=MODEL, version="1", event_id=EVENT,
                      reason="# Heading\n- item\n  + more\n> quote\n1. first\n12) twelfth")
    reason = teams_payload(outcome)["attachments"][0]["content"]["body"][2]["text"]
    assert reason == "\\# Heading\n\\- item\n  \\+ more\n\\> quote\n1\\. first\n12\\) twelfth"


def test_an_underscore_inside_a_name_is_left_alone_and_one_at_a_word_edge_is_not():
    outcome = Outcome(kind="registered", model="churn_model", version="1", event_id=EVENT,
                      reason="_italic_ churn_model")
    slack, teams = slack_payload(outcome), teams_payload(outcome)
    assert "`churn_model`" in as_text(slack) and "ˍitalicˍ churn_model" in as_text(slack)
    body = teams["attachments"][0]["content"]["body"]
    assert body[2]["text"] == "\\_italic\\_ churn_model"


def test_webhook_and_log_channels_carry_sender_text_unchanged():
    outcome = hostile_outcome()
    assert webhook_body(outcome)["data"]["extra"]["job_name"] == HOSTILE
    assert json.loads(log_line(outcome))["data"]["extra"]["job_name"] == HOSTILE
    assert webhook_body(outcome)["data"]["model"] == f"churn {HOSTILE}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.builds(Outcome, kind=st.sampled_from(SNAPSHOT_KINDS), model=st.text(min_size=1),
                 version=st.one_of(st.none(), st.text(min_size=1)), event_id=st.text(min_size=1),
                 run_id=st.one_of(st.none(), st.text()), actor=st.text(), reason=st.text(),
                 extra=st.dictionaries(st.text(max_size=10), st.text(), max_size=3)))
def test_no_sender_text_ever_makes_a_link_or_mention(outcome):
    for text in slack_mrkdwn(slack_payload(outcome, UI)):
        assert all(m.group(1).startswith(UI + "/#/") for m in SLACK_LINK.finditer(text))
    for text in teams_markdown(teams_payload(outcome, UI)):
        assert not MARKDOWN_LINK.search(text)


# --- documented shapes and limits --------------------------------------------------------


def check_slack_limits(payload: dict) -> None:
    """Slack: ≤ 50 blocks, sections ≤ 3000, header ≤ 150, ≤ 10 fields of ≤ 2000."""
    assert set(payload) == {"text", "blocks"} and payload["text"]
    assert 1 <= len(payload["blocks"]) <= 50
    for block in payload["blocks"]:
        assert block["type"] in {"header", "section", "context"}
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert ("text" in block) != ("fields" in block)
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            else:
                assert 1 <= len(block["fields"]) <= 10
                assert all(0 < len(f["text"]) <= 2000 for f in block["fields"])
        if block["type"] == "context":
            assert all(len(e["text"]) <= 3000 for e in block["elements"])


def check_teams_shape(payload: dict) -> None:
    """Teams' Workflows envelope, exactly, around an Adaptive Card 1.4, ≤ 26 KB."""
    assert set(payload) == {"type", "attachments"} and payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment.keys() == {"contentType", "contentUrl", "content"}
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    content = attachment["content"]
    assert content.keys() == {"$schema", "type", "version", "body"}
    assert content["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (content["type"], content["version"]) == ("AdaptiveCard", "1.4")
    assert {e["type"] for e in content["body"]} <= {"TextBlock", "FactSet", "ActionSet"}
    assert len(encode(payload)) <= TEAMS_MAX_BYTES


@pytest.mark.parametrize("kind", SNAPSHOT_KINDS)
def test_every_kind_has_the_documented_slack_and_teams_shapes(kind):
    check_slack_limits(slack_payload(sample(kind), UI))
    check_teams_shape(teams_payload(sample(kind), UI))


def many_gates(count: int, failing_every: int) -> tuple[GateResult, ...]:
    return tuple(GateResult(f"metric_{i:04d}", i % failing_every != 0, 0.5, ">=0.6",
                            "x" * 150) for i in range(count))


def test_slack_shortens_600_gates_and_says_how_many_it_left_out():
    outcome = Outcome(kind="rejected", model=MODEL, version="9", event_id=EVENT,
                      gates=many_gates(600, failing_every=100))
    payload = slack_payload(outcome)
    check_slack_limits(payload)
    text = as_text(payload)
    shown = text.count("✅ metric_") + text.count("❌ metric_")
    elided = int(re.search(r"… (\d+) more gates not shown \(0 failed\)", text).group(1))
    assert shown > 400 and shown + elided == 600
    for failed in ("metric_0000", "metric_0100", "metric_0500"):  # every failed gate kept
        assert f"❌ {failed}" in text


def test_teams_card_stays_under_26_kb_with_1000_gates_and_says_what_it_left_out():
    outcome = Outcome(kind="rejected", model=MODEL, version="9", event_id=EVENT,
                      gates=many_gates(1000, failing_every=7))
    payload = teams_payload(outcome)
    check_teams_shape(payload)
    assert "more gates not shown" in as_text(payload)
    assert "❌ metric_0007" in as_text(payload)


def test_an_enormous_reason_is_shortened_not_rejected():
    outcome = Outcome(kind="failed", model=MODEL, version="1", event_id=EVENT,
                      reason="boom " * 5000)
    check_slack_limits(slack_payload(outcome))
    check_teams_shape(teams_payload(outcome))
    assert "…" in slack_payload(outcome)["blocks"][2]["text"]["text"]


values = st.one_of(st.none(), st.floats(allow_nan=False), st.integers(), st.text(max_size=300),
                   st.lists(st.text(max_size=20), max_size=5))
gates = st.builds(GateResult, gate=st.text(min_size=1, max_size=200), passed=st.booleans(),
                  observed=values, expected=values, detail=st.text(max_size=500))
outcomes = st.builds(
    Outcome,
    kind=st.sampled_from(SNAPSHOT_KINDS), model=st.text(min_size=1, max_size=400),
    version=st.one_of(st.none(), st.text(min_size=1, max_size=40)),
    event_id=st.text(min_size=1, max_size=60), run_id=st.one_of(st.none(), st.text(max_size=64)),
    gates=st.lists(gates, max_size=700).map(tuple),
    alias_changes=st.lists(st.builds(AliasChange, alias=st.text(min_size=1, max_size=200),
                                     to_version=st.one_of(st.none(), st.text(max_size=40)),
                                     from_version=st.one_of(st.none(), st.text(max_size=40))),
                           max_size=80).map(tuple),
    actor=st.text(max_size=300), reason=st.one_of(st.none(), st.text(max_size=6000)),
    extra=st.dictionaries(st.text(max_size=30), st.text(max_size=3000), max_size=8),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outcomes)
def test_any_outcome_fits_slack_and_teams_limits(outcome):
    check_slack_limits(slack_payload(outcome, UI))
    check_teams_shape(teams_payload(outcome, UI))
    assert "\n" not in log_line(outcome)


# --- webhook and log bodies -------------------------------------------------------------


def test_webhook_body_carries_the_outcome_so_a_receiver_can_rebuild_it():
    outcome = sample("promoted")
    body = json.loads(encode(webhook_body(outcome, UI)))
    assert body["type"] == "reghook.promoted"
    assert body["links"]["run"] == f"{UI}/#/runs/{RUN}"
    assert body["links"]["model_version"] == f"{UI}/#/models/{MODEL}/versions/3"
    assert Outcome.from_json(body["data"]) == outcome


def test_log_line_is_one_json_object_with_the_outcome_only():
    line = log_line(sample("registered"))
    assert "\n" not in line
    data = json.loads(line)
    assert data["notification"] == "registered"
    assert set(data) == {"notification", "type", "summary", "links", "data"}


# --- snapshots ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SNAPSHOT_KINDS)
def test_renderings_match_the_reviewed_snapshot(kind):
    path = SNAPSHOTS / f"{kind}.json"
    rendered = json.dumps(render_all(sample(kind)), indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with UPDATE_SNAPSHOTS=1 and review it"
    assert rendered == path.read_text(encoding="utf-8")
