"""reghook behind a Databricks App's proxy, with ``reghook emit --databricks-auth`` as the sender.

Three small servers on 127.0.0.1 stand in for the outside world:

- reghook itself, served for real (werkzeug) with ``REGHOOK_TRUSTED_PROXY=databricks-apps``;
- the Apps proxy: forwards ``/api/`` paths only, demands ``Authorization: Bearer <token>``
  (401 otherwise), keeps that header to itself and names the caller in
  ``X-Forwarded-Email``, as docs/routes.md describes the real one;
- the workspace (``DATABRICKS_HOST``): databricks-sdk asks it for
  ``/.well-known/databricks-config`` and is answered 404; a personal access
  token needs no token endpoint.

``reghook emit`` runs as a subprocess, exactly as a job's last task would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from handler.settings import Settings
from handler.store import Store
from handler.web import create_app
from tests.conftest import EVENTS_SECRET
from tests.integration.test_intake_routes import changed
from tests.support.web import standard_delivery

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "dapi-token-of-the-training-job"
CALLER = "training-job@example.com"
RUN_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


@dataclass
class ProxyState:
    """What the proxy stand-in forwards to, and the outages a test asks of it."""

    upstream: str
    unavailable: int = 0  # answer 503 without forwarding, this many times
    answers_lost: int = 0  # forward, then drop reghook's answer for a 502, this many times
    seen: list[tuple[str, int]] = field(default_factory=list)


def proxy_handler(state: ProxyState) -> type[BaseHTTPRequestHandler]:
    """A handler class that behaves like the Databricks Apps proxy for ``state``."""

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:  # keep the test output quiet
            pass

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            state.seen.append((self.path, status))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.startswith("/api/"):
                return self._answer(404, b"Not Found")
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._answer(401, b"Unauthorized: a Databricks OAuth token is required")
            if state.unavailable:
                state.unavailable -= 1
                return self._answer(503, b"app is starting")
            forwarded = {k: v for k, v in self.headers.items()
                         if k.lower() not in ("authorization", "host", "content-length")}
            forwarded["X-Forwarded-Email"] = CALLER
            answer = requests.post(state.upstream + self.path, data=body, headers=forwarded,
                                   timeout=10)
            if state.answers_lost:
                state.answers_lost -= 1
                return self._answer(502, b"upstream answer lost")
            return self._answer(answer.status_code, answer.content,
                                answer.headers.get("Content-Type", "text/plain"))

    return Proxy


class WorkspaceStandIn(BaseHTTPRequestHandler):
    """A Databricks workspace that knows nothing: every path is 404."""

    def log_message(self, *_args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def serving(server: Any) -> Iterator[str]:
    """Serve ``server`` (werkzeug's or http.server's) in a thread; its base URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class AppsStack:
    """reghook behind the proxy stand-in, and the workspace stand-in."""

    proxy: ProxyState
    proxy_url: str
    workspace_url: str
    store: Store

    def emit(self, *args: str, databricks_auth: bool = True) -> subprocess.CompletedProcess[str]:
        """``reghook emit run-finished`` as a job task would run it."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DATABRICKS_", "REGHOOK_"))}
        env.update(PYTHONPATH=str(ROOT), DATABRICKS_HOST=self.workspace_url,
                   DATABRICKS_TOKEN=TOKEN, REGHOOK_EMIT_SECRET=EVENTS_SECRET,
                   DATABRICKS_CONFIG_FILE=str(ROOT / "no-such-databrickscfg"))
        flags = ["--databricks-auth"] if databricks_auth else []
        return subprocess.run(
            [sys.executable, "-m", "handler.cli", "emit", "run-finished", "--run-id", RUN_ID,
             "--model", "churn", *flags, *args],
            env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def apps(settings: Settings, store: Store) -> Iterator[AppsStack]:
    """reghook served for real behind the Databricks Apps proxy stand-in."""
    app = create_app(changed(settings, trusted_proxy="databricks-apps"), store)
    with serving(make_server("127.0.0.1", 0, app, threaded=True)) as reghook_url:
        state = ProxyState(upstream=reghook_url)
        proxy = ThreadingHTTPServer(("127.0.0.1", 0), proxy_handler(state))
        workspace = ThreadingHTTPServer(("127.0.0.1", 0), WorkspaceStandIn)
        with serving(proxy) as proxy_url, serving(workspace) as workspace_url:
            yield AppsStack(state, proxy_url, workspace_url, store)


def assert_one_clear_line(stderr: str, *words: str) -> str:
    """The last stderr line says why, and there is no traceback."""
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("reghook: "), stderr
    for word in words:
        assert word in last, stderr
    return last


def test_emit_with_databricks_auth_through_the_proxy_stores_the_event_once(apps):
    done = apps.emit("--url", f"{apps.proxy_url}/api/v1/events")
    assert done.returncode == 0, done.stderr
    assert '"status":"queued"' in done.stdout
    assert f"to {apps.proxy_url}/api/v1/events" in done.stderr
    assert TOKEN not in done.stdout + done.stderr and EVENTS_SECRET not in done.stderr
    events = apps.store.list_events(limit=10)
    assert [(e["source"], e["type"], e["status"]) for e in events] == [
        ("events", "run.finished", "queued")]
    headers = {k.lower(): v for k, v in apps.store.get_event(events[0]["id"])["headers"].items()}
    assert headers["x-forwarded-email"] == CALLER and "authorization" not in headers


def test_a_base_url_with_databricks_auth_posts_to_api_v1_events(apps):
    done = apps.emit("--url", apps.proxy_url)
    assert done.returncode == 0, done.stderr
    assert apps.proxy.seen == [("/api/v1/events", 202)]


def test_the_plain_events_route_is_not_reachable_through_the_proxy(apps):
    body, headers = standard_delivery(EVENTS_SECRET, {"type": "run.finished", "run_id": RUN_ID})
    response = requests.post(f"{apps.proxy_url}/events", data=body, timeout=10,
                             headers={**headers, "Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404
    assert apps.store.count_events() == 0


def test_emit_without_databricks_auth_is_refused_by_the_proxy_with_a_clear_line(apps):
    done = apps.emit("--url", f"{apps.proxy_url}/api/v1/events", databricks_auth=False)
    assert done.returncode == 1
    assert_one_clear_line(done.stderr, "401", "--databricks-auth")
    assert apps.store.count_events() == 0


def test_emit_retries_while_the_app_answers_503_and_the_event_is_stored_once(apps):
    apps.proxy.unavailable = 2
    done = apps.emit("--url", f"{apps.proxy_url}/api/v1/events")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("retrying in") == 2
    assert [status for _, status in apps.proxy.seen] == [503, 503, 202]
    assert apps.store.count_events() == 1


def test_a_retry_after_a_lost_answer_is_a_duplicate_not_a_second_event(apps):
    apps.proxy.answers_lost = 1
    done = apps.emit("--url", f"{apps.proxy_url}/api/v1/events")
    assert done.returncode == 0, done.stderr
    assert '"status":"duplicate"' in done.stdout
    assert [status for _, status in apps.proxy.seen] == [502, 200]
    assert apps.store.count_events() == 1


def test_emit_gives_up_with_one_line_and_exit_1_when_the_server_stays_down(apps):
    apps.proxy.unavailable = 99
    done = apps.emit("--url", f"{apps.proxy_url}/api/v1/events", "--max-attempts", "2")
    assert done.returncode == 1
    assert_one_clear_line(done.stderr, "503", "after 2 attempts")
    unreachable = apps.emit("--url", "http://127.0.0.1:9/api/v1/events", "--max-attempts", "2")
    assert unreachable.returncode == 1
    assert_one_clear_line(unreachable.stderr, "could not reach", "2 attempt(s)")
    assert apps.store.count_events() == 0
