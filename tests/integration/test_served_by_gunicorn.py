"""What only a real gunicorn shows: chunked bodies, broken chunked encoding, multiprocess metrics.

Flask's MAX_CONTENT_LENGTH does not turn an over-long chunked body into a 413
under gunicorn (a known Flask/gunicorn behaviour); the test client cannot
show that, so these requests go over a socket.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests

from handler.store import Store, upgrade
from tests.conftest import EVENTS_SECRET
from tests.support.web import RunningReghook, running_reghook, standard_delivery

LIMIT = 4096

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[RunningReghook, str]]:
    root = tmp_path_factory.mktemp("served")
    url = f"sqlite:///{root / 'reghook.db'}"
    upgrade(url)
    env = {"REGHOOK_DATABASE_URL": url, "REGHOOK_EVENTS_SECRETS": EVENTS_SECRET,
           "REGHOOK_MAX_BODY_BYTES": str(LIMIT)}
    with running_reghook(env, root / "gunicorn", workers=2) as server:
        yield server, url


def count(url: str) -> int:
    store = Store.from_url(url)
    try:
        return store.count_events()
    finally:
        store.dispose()


def in_chunks(raw: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(raw), size):
        yield raw[start:start + size]


def test_chunked_body_over_the_limit_is_413_under_gunicorn(served):
    server, url = served
    before = count(url)
    raw, headers = standard_delivery(EVENTS_SECRET, {"type": "deploy.started", "pad": "x" * 6000})
    response = requests.post(f"{server.url}/events", data=in_chunks(raw), headers=headers,
                             timeout=30)
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "body_too_large"
    assert count(url) == before


def test_chunked_body_within_the_limit_is_accepted_whole_under_gunicorn(served):
    server, url = served
    raw, headers = standard_delivery(EVENTS_SECRET, {"type": "deploy.started", "pad": "x" * 3000})
    response = requests.post(f"{server.url}/events", data=in_chunks(raw), headers=headers,
                             timeout=30)
    assert response.status_code == 202, response.text
    store = Store.from_url(url)
    try:
        assert store.get_event(response.json()["event_id"])["body"] == raw.decode()
    finally:
        store.dispose()


def raw_request(server: RunningReghook, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_broken_chunked_encoding_is_a_json_400_not_a_5xx(served):
    server, url = served
    before = count(url)
    status, body = raw_request(server, (
        b"POST /events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"10\r\n{\"type\": \"x\"}\r\nZZ\r\nnot a chunk\r\n0\r\n\r\n"))
    assert status == 400
    assert json.loads(body)["error"] == "bad_request"
    assert count(url) == before


def test_metrics_aggregate_deliveries_across_workers(served):
    server, _ = served

    def ignored_events_delivered() -> float:
        # Types reghook ignores are labelled "other" (bounded label values).
        text = requests.get(f"{server.url}/metrics", timeout=30).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("reghook_deliveries_total{")
                   and 'type="other"' in line and 'source="events"' in line
                   and 'result="ignored"' in line)

    before = ignored_events_delivered()
    for _ in range(4):
        raw, headers = standard_delivery(EVENTS_SECRET, {"type": "metrics.probe"})
        assert requests.post(f"{server.url}/events", data=raw, headers=headers,
                             timeout=30).status_code == 202
    # Several gunicorn workers answered; /metrics (served by any one) counts all four.
    assert ignored_events_delivered() - before == 4
