"""Processes and databases for bench/ingest.py: gunicorn on loopback, throwaway stores.

Every gunicorn is started in its own session (process group), so stopping
it stops its workers too, and a Ctrl-C in the terminal reaches only the
benchmark, whose ``finally`` blocks then stop the servers and drop the
databases.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PG_ADMIN_URL = os.environ.get("REGHOOK_BENCH_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")


class ServerFailed(Exception):
    """gunicorn exited or did not answer /healthz in time (its log tail follows)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """The status of a GET, or None if nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def rss_kb(pid: int) -> int | None:
    """VmRSS of a process in KiB (from /proc/<pid>/status), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (gunicorn's workers of its master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: split after it.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


class Gunicorn:
    """gunicorn with deploy/gunicorn.conf.py serving ``app`` on a free loopback port."""

    def __init__(self, app: str, env: dict[str, str], workdir: Path, *, name: str,
                 pythonpath: Path | None = None, root: Path = ROOT) -> None:
        self.app, self.name, self.pythonpath, self.root = app, name, pythonpath, root
        self.port = free_port()
        self.host = "127.0.0.1"
        self.log_path = workdir / f"gunicorn-{name}.log"
        prom_dir = workdir / f"prom-{name}"
        prom_dir.mkdir(exist_ok=True)
        self.env = {**os.environ, **env, "REGHOOK_BIND": f"{self.host}:{self.port}",
                    "PROMETHEUS_MULTIPROC_DIR": str(prom_dir)}
        self.process: subprocess.Popen[bytes] | None = None
        self.spawned_at = 0.0

    def start(self) -> None:
        """Spawn gunicorn (not waiting for it)."""
        conf = self.root / "deploy" / "gunicorn.conf.py"
        command = [sys.executable, "-m", "gunicorn", "-c", str(conf)]
        if self.pythonpath is not None:
            command += ["--pythonpath", str(self.pythonpath)]
        command.append(self.app)
        log = self.log_path.open("ab")
        self.spawned_at = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=self.root, env=self.env,
                                        stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def wait_healthy(self, timeout_s: float = 30.0) -> float:
        """Poll /healthz until 200; return seconds since spawn."""
        assert self.process is not None
        deadline = time.perf_counter() + timeout_s
        url = f"http://{self.host}:{self.port}/healthz"
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"gunicorn ({self.name}) exited with {self.process.returncode}"
                                   f":\n{self.log_tail()}")
            if http_status(url, timeout=0.5) == 200:
                return time.perf_counter() - self.spawned_at
            time.sleep(0.01)
        raise ServerFailed(f"gunicorn ({self.name}) not healthy after {timeout_s} s:\n"
                           f"{self.log_tail()}")

    def workers(self) -> list[int]:
        """PIDs of the web workers."""
        assert self.process is not None
        return children(self.process.pid)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of gunicorn's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL it if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        pgid = self.process.pid  # start_new_session: the master leads its group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.process.wait(timeout=5)
        # Workers may outlive the master by a moment; make sure none stay.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)

    def __enter__(self) -> Gunicorn:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def sqlite_url(workdir: Path, name: str) -> str:
    """A fresh SQLite file, migrated with handler.store.upgrade (WAL set there)."""
    from handler.store import upgrade

    url = f"sqlite:///{workdir / f'{name}.db'}"
    upgrade(url)
    return url


def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None if it answers."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    return None


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """Create a fresh database on the local server, migrate it, drop it afterwards."""
    import psycopg

    from handler.store import upgrade

    name = f"reghook_bench_{uuid.uuid4().hex[:12]}"
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = base.replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def count_events(url: str) -> int:
    """Rows in the events table of a store (each accepted delivery must be one)."""
    from handler.store import Store

    store = Store.from_url(url)
    try:
        return store.count_events()
    finally:
        store.dispose()


_IMPORT_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import deploy.wsgi
elapsed = time.perf_counter() - t0
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:"))
print(json.dumps({"import_s": elapsed, "rss_kb": rss,
                  "mlflow_imported": "mlflow" in sys.modules,
                  "databricks_sdk_imported": "databricks.sdk" in sys.modules}))
"""


def import_probe(env: dict[str, str]) -> dict[str, float | int | bool]:
    """Import deploy.wsgi in a fresh interpreter: in-process import time and whole-process time."""
    spawned = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _IMPORT_PROBE], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60, check=False)
    wall = time.perf_counter() - spawned
    if done.returncode != 0:
        raise ServerFailed(f"importing deploy.wsgi failed:\n{done.stderr[-2000:]}")
    result: dict[str, float | int | bool] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def workdir() -> tempfile.TemporaryDirectory[str]:
    """A temporary folder for logs, SQLite files and metrics files."""
    return tempfile.TemporaryDirectory(prefix="reghook-bench-")


def postgres_backends(url: str) -> list[int]:
    """PIDs of the PostgreSQL server processes connected to the database of ``url``."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                             (name,)).fetchall()
    return [int(row[0]) for row in rows]


def postgres_checkpoints() -> int:
    """Checkpoints the server has made since it started (each one can stall commits)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        row = admin.execute(
            "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter").fetchone()
    return int(row[0]) if row else 0
