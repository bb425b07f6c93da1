"""Webhook URLs and signing secrets never leave the process: not in logs, errors or the store.

Planted secrets go through a full send cycle — successes, 4xx whose body
quotes the URL, 5xx, 429, timeouts and refused connections whose exception
text quotes it, and a real HTTP server so urllib3's own request logging runs
— and then every place a secret could surface is searched for them.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses
from sqlalchemy import select

from handler import metrics
from handler.channels import ChannelConfig
from handler.notify.outbox import Notifier
from handler.outcomes import Outcome
from handler.store import Store
from handler.store.tables import outbox
from tests.support.store_queries import enqueue_outcome

SLACK_SECRET_PATH = "/services/TPLANTED1/BPLANTED2/slackPlantedToken3"
TEAMS_SECRET_PATH = "/workflows/teamsPlantedFlow/triggers/manual/paths/invoke"
TEAMS_SECRET_QUERY = "sig=teamsPlantedSig4"
HOOK_SECRET_PATH = "/hooks/webhookPlantedPath5"
HOOK_SECRET = "whsec_cGxhbnRlZC13ZWJob29rLXNpZ25pbmcta2V5LTY="  # "planted-webhook-signing-key-6"
SLACK_URL = "https://hooks.slack.com" + SLACK_SECRET_PATH
TEAMS_URL = "https://prod-42.westus.logic.azure.com" + TEAMS_SECRET_PATH + "?" + TEAMS_SECRET_QUERY
HOOK_URL = "https://audit.example.com" + HOOK_SECRET_PATH
NEEDLES = ("TPLANTED1", "BPLANTED2", "slackPlantedToken3", "teamsPlantedFlow", "teamsPlantedSig4",
           "webhookPlantedPath5", HOOK_SECRET, "cGxhbnRlZC13ZWJob29r", "planted-webhook",
           "realServerPlanted7")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class EchoingFailure(BaseHTTPRequestHandler):
    """A channel that answers 500 and quotes the request path, as some proxies do."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = f"upstream error for POST {self.path}".encode()
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # the server's own access log is not ours
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingFailure)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/realServerPlanted7"
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/realServerPlanted7/refused"


def outcome(version: str) -> Outcome:
    return Outcome(kind="rejected", model="churn_model", version=version, event_id="evt_1",
                   run_id="4f6c2d1e", reason="gates failed")


def everything_stored(store: Store) -> str:
    with store.tx.read() as connection:
        rows = connection.execute(select(outbox)).mappings().all()
    return json.dumps([dict(r) for r in rows], default=str)


def run_cycle(store: Store, notifier: Notifier, clock: Clock, rounds: int) -> None:
    for _ in range(rounds):
        notifier.send_due()
        due = notifier.next_due_in()
        if due is None:
            break
        clock.now += due


def test_no_webhook_url_or_secret_appears_anywhere(store, capsys, caplog, echo_server,
                                                   closed_port_url):
    caplog.set_level(logging.DEBUG)  # urllib3's request lines included, if any leaked
    clock = Clock()
    log_out = io.StringIO()
    channels = {
        "slack": ChannelConfig(type="slack", url=SLACK_URL),
        "teams": ChannelConfig(type="teams", url=TEAMS_URL),
        "audit": ChannelConfig(type="webhook", url=HOOK_URL, secret=HOOK_SECRET),
        "real-echo": ChannelConfig(type="slack", url=echo_server),
        "real-refused": ChannelConfig(type="teams", url=closed_port_url),
        "stdout": ChannelConfig(type="log"),
    }
    now = datetime.fromtimestamp(clock(), UTC)
    for version in ("1", "2", "3"):
        enqueue_outcome(store, outcome(version), list(channels), now=now)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as fake:
        fake.add_passthru("http://127.0.0.1")
        # Slack: quotes its URL in a 404, then throttles, then is fine.
        fake.add(responses.POST, SLACK_URL, status=404, body=f"no_service at {SLACK_URL}")
        fake.add(responses.POST, SLACK_URL, status=429, headers={"Retry-After": "2"},
                 body=f"slow down {SLACK_SECRET_PATH}")
        fake.add(responses.POST, SLACK_URL, status=200, body="ok")
        # Teams: requests' exception texts quote host, path and query.
        fake.add(responses.POST, TEAMS_URL, body=requests.exceptions.ReadTimeout(
            f"HTTPSConnectionPool(host='prod-42.westus.logic.azure.com', port=443): Read timed "
            f"out. url: {TEAMS_SECRET_PATH}?{TEAMS_SECRET_QUERY}"))
        fake.add(responses.POST, TEAMS_URL, status=500, body=f"failed: {TEAMS_URL}")
        fake.add(responses.POST, TEAMS_URL, status=400, body=f"bad card for {TEAMS_URL}")
        # Webhook: refused with the URL in the message, then a 500 echoing the path.
        fake.add(responses.POST, HOOK_URL, body=requests.exceptions.ConnectionError(
            f"Max retries exceeded with url: {HOOK_SECRET_PATH} (Caused by NewConnectionError"
            f"('{HOOK_URL}: Failed to establish a new connection: [Errno 111] refused'))"))
        fake.add(responses.POST, HOOK_URL, status=503, body=f"down: {HOOK_SECRET_PATH}")
        fake.add(responses.POST, HOOK_URL, status=202)

        notifier = Notifier(store, channels, clock=clock, max_attempts=3, stdout=log_out,
                            jitter=lambda: 1.0)
        run_cycle(store, notifier, clock, rounds=60)

    statuses = {r["status"] for r in store.list_outbox(limit=100)}
    assert statuses == {"sent", "failed"}  # the cycle really ran to the end
    assert 'reghook_notifications_total{channel_type="slack",result="throttled"}' in (
        metrics.render()[0].decode())

    captured = capsys.readouterr()
    places = {
        "stdout": captured.out, "stderr": captured.err, "log records": caplog.text,
        "log channel": log_out.getvalue(),
        "outbox rows": everything_stored(store),
        "admin listing": json.dumps(store.list_outbox(limit=100)),
        "metrics": metrics.render()[0].decode(),
        "notifier": repr(vars(notifier)),
    }
    assert "last_error" in places["outbox rows"] and "HTTP 404" in places["outbox rows"]
    for place, text in places.items():
        for needle in NEEDLES:
            assert needle not in text, f"{needle!r} leaked into {place}"
