"""A real local ``mlflow server`` (sqlite backend), for the demo and the test session.

Started with the environment docs/configuration.md lists so it delivers signed
webhooks to loopback over plain http, picks up new webhooks at once, and
keeps its webhook secrets readable across restarts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

# A fixed Fernet key: without it each server process makes its own and
# deliveries fail after a restart (upstream issue #19896).
WEBHOOK_ENCRYPTION_KEY = "dXd0gElq7WpDNwBXDbrSd99WvDD2LVUuTxJ7uqVfNhE="


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mlflow_server_env() -> dict[str, str]:
    """The environment a local test server needs to deliver webhooks to loopback."""
    env = dict(os.environ)
    env.update({
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": WEBHOOK_ENCRYPTION_KEY,
        "MLFLOW_WEBHOOK_CACHE_TTL": "1",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    })
    return env


@dataclass
class MlflowServer:
    """A running (or stopped) local tracking server with its own sqlite store."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The tracking URI."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120) -> None:
        """Start the server and wait until it answers /health."""
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - kept open for the child
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server",
             "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
             "--artifacts-destination", str(self.root / "artifacts"),
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            env=mlflow_server_env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=self.root,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited; see {self.root / 'server.log'}")
            try:
                if requests.get(f"{self.url}/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server did not start in {timeout_s} s")

    def stop(self) -> None:
        """Stop the server and all its children (it runs in its own process group).

        Returns once the port is free, so :meth:`start` can serve the same
        port, database and artifacts again (an outage, then recovery).
        """
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None
        # The group's children (server workers) may outlive the parent briefly.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _listening(self.port):
            time.sleep(0.2)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0
