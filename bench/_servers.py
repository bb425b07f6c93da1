"""bench/ingest.py's servers: gunicorn on loopback, each leading its own process group (so
a Ctrl-C reaches only the benchmark, which stops them), and throwaway stores."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from _cpu import descendants

from handler.demo.server import free_port
from handler.store import Store, upgrade

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("REGHOOK_BENCH_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")


class ServerFailed(Exception):
    """gunicorn exited or did not answer /healthz in time (its log tail follows)."""


class Gunicorn:
    """One gunicorn with deploy/gunicorn.conf.py on a free loopback port, spawned at once;
    a context manager that stops it and its workers on the way out."""

    def __init__(self, app: str, env: dict[str, str], work: Path, name: str) -> None:
        self.name, self.log_path = name, work / f"{name}.log"
        self.address = ("127.0.0.1", free_port())
        (prom := work / f"prom-{name}").mkdir(exist_ok=True)
        env = {**os.environ, **env, "REGHOOK_BIND": f"127.0.0.1:{self.address[1]}",
               "PROMETHEUS_MULTIPROC_DIR": str(prom)}
        # bench/ on the path for the bare app only: reghook's import stays as deployed.
        bench = ["--pythonpath", str(ROOT / "bench")] if app.startswith("bare_app") else []
        with self.log_path.open("ab") as log:
            self.spawned_at = time.perf_counter()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
                 *bench, app], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)

    def __enter__(self) -> Gunicorn:
        return self

    def wait_healthy(self, timeout_s: float = 30.0) -> float:
        """Poll /healthz until 200; seconds since spawn."""
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"gunicorn ({self.name}) exited:\n{self.log_tail()}")
            with (contextlib.suppress(OSError),
                  urllib.request.urlopen(f"http://127.0.0.1:{self.address[1]}/healthz",
                                         timeout=0.5) as answer):
                if answer.status == 200:
                    return time.perf_counter() - self.spawned_at
            time.sleep(0.01)
        raise ServerFailed(f"gunicorn ({self.name}) not healthy after {timeout_s} s:\n"
                           f"{self.log_tail()}")

    def pids(self) -> list[int]:
        """The master, then its web workers."""
        return descendants(self.process.pid)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of gunicorn's log."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def __exit__(self, *_exc: object) -> None:
        """SIGTERM the whole process group, SIGKILL whatever lingers."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)  # start_new_session: it leads its group
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        # Workers may outlive the master by a moment; make sure none stay.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=5)


def sqlite_url(work: Path, name: str) -> str:
    """A fresh SQLite file, migrated with handler.store.upgrade."""
    url = f"sqlite:///{work / f'{name}.db'}"
    upgrade(url)
    return url


def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None if it answers."""
    try:
        _admin("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
    return None


def _admin(sql: str, *params: str) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        cursor = admin.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else []


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, migrated database on the local server, dropped afterwards."""
    name = f"reghook_bench_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        upgrade(f"{url}/{name}")
        yield f"{url}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_backends(url: str) -> list[int]:
    """PIDs of the PostgreSQL server processes connected to the database of ``url``."""
    rows = _admin("SELECT pid FROM pg_stat_activity WHERE datname = %s", url.rsplit("/", 1)[1])
    return [int(str(row[0])) for row in rows]


def count_events(url: str) -> int:
    """Rows in the events table of a store (each accepted delivery must be one)."""
    count = (store := Store.from_url(url)).count_events()
    store.dispose()
    return count
