"""``handler.emit``: where it posts, what it retries, what it prints (docs/cli.md, emit run-finished)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import responses

from handler import emit
from tests.conftest import EVENTS_SECRET

URL = "https://reghook.example.com/api/v1/events"
ROOT = Path(__file__).resolve().parents[2]


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def post(fake: FakeTime, **kwargs):
    return emit.post_run_finished(URL, EVENTS_SECRET, "run1", "churn", sleep=fake.sleep,
                                  clock=fake.clock, **kwargs)


@pytest.mark.parametrize(("given", "api", "expected"), [
    ("https://r.example.com", False, "https://r.example.com/events"),
    ("https://r.example.com/", True, "https://r.example.com/api/v1/events"),
    ("https://r.example.com/api/v1/events", False, "https://r.example.com/api/v1/events"),
    ("https://r.example.com/events", True, "https://r.example.com/events"),
])
def test_events_url_completes_a_base_url_and_keeps_an_events_url(given, api, expected):
    assert emit.events_url(given, api=api) == expected


def test_shown_url_drops_credentials_query_and_fragment():
    assert emit.shown_url("https://u:pw@r.example.com:8443/api/v1/events?token=x#f") == \
        "https://r.example.com:8443/api/v1/events"


@responses.activate
def test_503_twice_then_202_is_three_attempts_with_one_webhook_id_and_growing_waits():
    for status in (503, 503, 202):
        responses.post(URL, status=status, json={"event_id": "evt_1", "status": "queued"})
    fake = FakeTime()
    answer = post(fake)
    assert answer.status_code == 202
    ids = {call.request.headers["webhook-id"] for call in responses.calls}
    bodies = {call.request.body for call in responses.calls}
    assert len(responses.calls) == 3 and len(ids) == 1 and len(bodies) == 1
    assert json.loads(bodies.pop()) == {"type": "run.finished", "run_id": "run1", "model": "churn"}
    assert len(fake.slept) == 2 and all(wait >= 1.0 for wait in fake.slept)


@responses.activate
def test_429_is_retried_and_a_4xx_is_not():
    responses.post(URL, status=429)
    responses.post(URL, status=400, json={"error": "invalid_payload"})
    fake = FakeTime()
    assert post(fake).status_code == 400
    assert len(responses.calls) == 2 and len(fake.slept) == 1


@responses.activate
def test_a_server_that_stays_down_is_tried_a_bounded_number_of_times_then_raised():
    responses.post(URL, body=requests.ConnectionError("refused"))
    fake, notices = FakeTime(), []
    with pytest.raises(requests.ConnectionError):
        post(fake, attempts=4, on_retry=lambda *notice: notices.append(notice))
    assert len(responses.calls) == 4
    assert [(attempt, failure) for attempt, failure, _ in notices] == [
        (1, "ConnectionError"), (2, "ConnectionError"), (3, "ConnectionError")]


@responses.activate
def test_the_total_wait_bounds_the_retries_before_the_attempts_run_out():
    responses.post(URL, status=503)
    fake = FakeTime()
    assert post(fake, attempts=10, max_wait_s=5).status_code == 503
    assert sum(fake.slept) <= 5
    assert len(responses.calls) < 10


@responses.activate
def test_auth_headers_are_asked_for_on_every_attempt_and_sent():
    responses.post(URL, status=503)
    responses.post(URL, status=202)
    asked = []

    def auth() -> dict[str, str]:
        asked.append(1)
        return {"Authorization": f"Bearer token-{len(asked)}"}

    post(FakeTime(), auth=auth)
    assert [c.request.headers["Authorization"] for c in responses.calls] == [
        "Bearer token-1", "Bearer token-2"]


@responses.activate
def test_a_redirect_is_not_followed():
    responses.post(URL, status=302, headers={"Location": "https://login.example.com/?state=s"})
    assert post(FakeTime()).status_code == 302
    assert len(responses.calls) == 1


def test_databricks_auth_without_credentials_is_one_line_naming_what_to_set(monkeypatch, tmp_path):
    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CLIENT_ID",
                 "DATABRICKS_CLIENT_SECRET", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(emit.DatabricksAuthMissing) as caught:
        emit.databricks_auth()
    message = str(caught.value)
    assert "\n" not in message and "DATABRICKS_HOST" in message and "DATABRICKS_TOKEN" in message


def test_emit_without_the_flag_never_imports_databricks_sdk():
    script = (
        "import sys\n"
        "from handler.cli import main\n"
        "try:\n"
        "    main(['emit', 'run-finished', '--url', 'http://127.0.0.1:9', '--run-id', 'r',\n"
        "          '--secret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '--max-attempts', '1'])\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, any(m.startswith('databricks') for m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False, cwd=ROOT, env={"PYTHONPATH": str(ROOT),
                                                                  "PATH": "/usr/bin:/bin"})
    assert done.stdout.split() == ["1", "False"], done.stderr
