"""Helpers for tests that talk to reghook over HTTP: signed deliveries and a real gunicorn.

The signers here are written from the published formats (docs/routes.md), not
imported from :mod:`handler.signatures`, so a bug there cannot hide itself
by signing and verifying the same wrong way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.mlflow_server import free_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"

__all__ = [
    "RunningReghook",
    "basic_auth",
    "databricks_delivery",
    "free_port",
    "mlflow_delivery",
    "running_reghook",
    "standard_delivery",
]


def _as_bytes(body: Mapping[str, Any] | bytes) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def mlflow_delivery(
    secret: str,
    body: Mapping[str, Any] | bytes,
    *,
    delivery_id: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A body and the headers an MLflow server would send with it, signed with ``secret``."""
    raw = _as_bytes(body)
    delivery_id = delivery_id or str(uuid.uuid4())
    timestamp = int(time.time()) if timestamp is None else timestamp
    message = f"{delivery_id}.{timestamp}.".encode() + raw
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return raw, {
        "Content-Type": "application/json",
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": str(timestamp),
        "X-MLflow-Signature": "v1," + base64.b64encode(digest).decode(),
    }


def standard_delivery(
    secret: str,
    body: Mapping[str, Any] | bytes,
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A Standard Webhooks message for ``/events``, signed with a ``whsec_`` secret."""
    raw = _as_bytes(body)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest()
    return raw, {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def databricks_delivery(
    secret: str, body: Mapping[str, Any] | bytes, *, authorization: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """A Databricks registry webhook body with its hex ``X-Databricks-Signature``."""
    raw = _as_bytes(body)
    headers = {
        "Content-Type": "application/json",
        "X-Databricks-Signature": hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest(),
    }
    if authorization is not None:
        headers["Authorization"] = authorization
    return raw, headers


def basic_auth(username: str, password: str) -> str:
    """An HTTP Basic ``Authorization`` header value."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass
class RunningReghook:
    """A reghook web app served by gunicorn in a subprocess."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """What gunicorn and the app wrote so far (for failure messages)."""
        return self.log_path.read_text(errors="replace")[-4000:]


def _wait_healthy(server: RunningReghook, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{server.log()}")
        try:
            if requests.get(f"{server.url}/healthz", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"reghook did not answer /healthz in {timeout_s} s:\n{server.log()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    # gunicorn runs in its own process group: stop the arbiter and its workers. SIGINT is
    # gunicorn's quick shutdown: a test's teardown need not wait out keep-alive connections
    # (gthread workers under SIGTERM waited 20 s for the mlflow server's open connection).
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


@contextmanager
def running_reghook(
    env: Mapping[str, str], workdir: Path, *, workers: int = 2, timeout_s: float = 60
) -> Iterator[RunningReghook]:
    """Serve ``deploy.wsgi:app`` with gunicorn and the given ``REGHOOK_*`` settings.

    The store must already be migrated. gunicorn is killed on exit, whatever happened.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    metrics_dir = workdir / "prometheus"
    metrics_dir.mkdir(exist_ok=True)
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("REGHOOK_")}
    child_env.update(env)
    child_env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    log_path = workdir / "gunicorn.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
             "-b", f"127.0.0.1:{port}", "-w", str(workers), "deploy.wsgi:app"],
            cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningReghook(process, port, log_path)
    try:
        _wait_healthy(server, timeout_s)
        yield server
    finally:
        _stop(process)
