"""A sender that starts a body and never finishes it must not silence reghook.

Over real sockets, against the Procfile's gunicorn (deploy/gunicorn.conf.py)
and against ``reghook serve``: as many slow-body connections as ``reghook
serve`` has threads (before the body deadline, that silenced it for good, and
two stalled the Procfile's sync gunicorn until its worker timeout), then
``/healthz`` must still answer, and each slow sender is answered 400, within
one body deadline (docs/routes.md, deploy/README.md).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from handler.store import upgrade
from handler.web.webhooks import BODY_DEADLINE_S
from tests.conftest import EVENTS_SECRET
from tests.support.web import free_port, running_reghook, standard_delivery

pytestmark = pytest.mark.slow

SERVE_THREADS = 8
# Not more: gunicorn's workers accept unevenly, so more could pile up on one
# worker beyond its threads and wait a second deadline (bounded, but slower).
SLOW_SENDERS = SERVE_THREADS
# The deadline, then time for the cut-off reads to be answered.
WITHIN_S = BODY_DEADLINE_S + 8
REGHOOK = Path(sys.executable).parent / "reghook"


def start_slow_body(port: int) -> socket.socket:
    """Send the headers of a signed delivery and a few bytes of its body, then nothing."""
    raw, headers = standard_delivery(EVENTS_SECRET, {"type": "deploy.started"})
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock = socket.create_connection(("127.0.0.1", port), timeout=WITHIN_S)
    sock.sendall(f"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: {len(raw)}\r\n"
                 f"{head}\r\n".encode() + raw[:3])
    return sock


def answer_of(sock: socket.socket) -> bytes:
    """The first bytes the server answered (b"" when it closed without answering)."""
    try:
        return sock.recv(4096)
    except TimeoutError:
        return b"(no answer)"


def assert_survives_slow_bodies(port: int, senders: int) -> None:
    with ExitStack() as stack:
        slow = [stack.enter_context(start_slow_body(port)) for _ in range(senders)]
        time.sleep(0.5)  # let every slow request reach a thread
        started = time.monotonic()
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=WITHIN_S)
        assert health.status_code == 200
        assert time.monotonic() - started < WITHIN_S
        answers = [answer_of(sock) for sock in slow]
    assert all(answer.startswith(b"HTTP/1.1 400") for answer in answers), answers[:3]


def test_procfile_gunicorn_answers_healthz_while_bodies_trickle(tmp_path):
    url = f"sqlite:///{tmp_path / 'reghook.db'}"
    upgrade(url)
    env = {"REGHOOK_DATABASE_URL": url, "REGHOOK_EVENTS_SECRETS": EVENTS_SECRET}
    with running_reghook(env, tmp_path / "gunicorn", workers=2) as server:
        assert_survives_slow_bodies(server.port, SLOW_SENDERS)


@contextmanager
def reghook_serve(tmp_path: Path) -> Iterator[int]:
    """``reghook serve --no-worker`` on a free port; stopped on exit."""
    url = f"sqlite:///{tmp_path / 'reghook.db'}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGHOOK_")}
    env.update(REGHOOK_DATABASE_URL=url, REGHOOK_EVENTS_SECRETS=EVENTS_SECRET,
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    log = open(tmp_path / "serve.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([str(REGHOOK), "serve", "--no-worker", "--port", str(port),
                                "--threads", str(SERVE_THREADS)],
                               env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def test_reghook_serve_answers_healthz_while_bodies_trickle(tmp_path):
    with reghook_serve(tmp_path) as port:
        assert_survives_slow_bodies(port, SLOW_SENDERS)
