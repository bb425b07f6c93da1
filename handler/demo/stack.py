"""A whole local stack in one process: mlflow server, reghook web app and worker thread.

The mlflow server is subscribed to reghook with a signed webhook, so every
registry change made in the demo (and in the end-to-end tests, which build on
:func:`running_reghook`) reaches reghook the way it would in production: as a
signed delivery from the server.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from handler.bootstrap import build_worker
from handler.demo.server import MlflowServer, free_port
from handler.events import MLFLOW_EVENT_TYPES
from handler.settings import Settings
from handler.store import Store, upgrade
from handler.web import create_app
from handler.worker.runtime import WorkerRuntime

MLFLOW_WEBHOOK_SECRET = "demo-mlflow-webhook-secret"
EVENTS_SECRET = "whsec_ZGVtby1ldmVudHMtc2VjcmV0LWZvci1yZWdob29r"
# The demo's admin token opens its console and admin API (loopback only, a throwaway store).
DEMO_ADMIN_TOKEN = "demo-admin-token"
# create_webhook takes a list of event names (its type hints say WebhookEvent objects).
WEBHOOK_EVENTS: list[Any] = list(MLFLOW_EVENT_TYPES)


def wait_until(check: Callable[[], Any], timeout_s: float, what: str,
               error: type[Exception] = TimeoutError) -> Any:
    """Poll ``check()`` until it is truthy and return its value; raise ``error`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise error(f"timed out after {timeout_s} s waiting for {what}")


def settle(store: Store, quiet_s: float, timeout_s: float = 60,
           error: type[Exception] = TimeoutError) -> None:
    """Wait until nothing is queued or processing and no new event arrived for ``quiet_s``.

    MLflow's echoes of reghook's writes arrive a moment after each write, so
    an empty queue alone does not mean reghook is done.
    """
    def idle() -> bool:
        counts = store.counts_by_status()
        return not counts.get("queued") and not counts.get("processing")

    seen = -1
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        wait_until(idle, timeout_s, "the queue to drain", error)
        total = store.count_events()
        if total == seen:
            return
        seen = total
        time.sleep(quiet_s)
    raise error("reghook did not go quiet")


@dataclass
class RunningReghook:
    """reghook's app and worker in this process, subscribed to an mlflow server."""

    url: str
    store: Store
    runtime: WorkerRuntime
    settings: Settings
    webhook_id: str | None = None


@contextmanager
def running_reghook(settings: Settings, tracking_uri: str, *, webhook_secret: str,
                    webhook: bool = True, start_worker: bool = True) -> Iterator[RunningReghook]:
    """Serve reghook (werkzeug, threaded) with a worker thread; point the server's webhook at it.

    The store must exist (:func:`handler.store.upgrade`); ``MLFLOW_TRACKING_URI``
    must name ``tracking_uri`` for the worker's registry client.
    """
    from mlflow import MlflowClient
    from werkzeug.serving import make_server

    store = Store.from_url(settings.database_url)
    runtime = build_worker(settings, store)
    port = free_port()
    server = make_server("127.0.0.1", port, create_app(settings, store, on_stored=runtime.wake),
                         threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if start_worker:
        runtime.start_thread()
    handle = RunningReghook(f"http://127.0.0.1:{port}", store, runtime, settings)
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        if webhook:
            created = client.create_webhook(name=f"reghook-{port}",
                                            url=f"{handle.url}/webhooks/mlflow",
                                            events=WEBHOOK_EVENTS, secret=webhook_secret)
            handle.webhook_id = created.webhook_id
        yield handle
    finally:
        if handle.webhook_id:
            client.delete_webhook(handle.webhook_id)
        runtime.stop()
        server.shutdown()
        store.dispose()


@dataclass
class Stack:
    """The running demo stack's handles."""

    mlflow: MlflowServer
    reghook_url: str
    store: Store
    runtime: WorkerRuntime
    settings: Settings


@contextmanager
def local_stack(root: Path, policy_path: Path) -> Iterator[Stack]:
    """Start mlflow, reghook (app + worker thread) and the webhook; stop all on exit."""
    root.mkdir(parents=True, exist_ok=True)
    mlflow_server = MlflowServer(root / "mlflow")
    mlflow_server.start()
    try:
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_server.url
        database_url = f"sqlite:///{root / 'reghook.db'}"
        upgrade(database_url)
        settings = Settings(database_url=database_url, policy=str(policy_path),
                            mlflow_secrets=SecretStr(MLFLOW_WEBHOOK_SECRET),
                            events_secrets=SecretStr(EVENTS_SECRET),
                            admin_token=SecretStr(DEMO_ADMIN_TOKEN),
                            log_level="WARNING", backoff_base_s=0.5, backoff_max_s=5)
        with running_reghook(settings, mlflow_server.url,
                             webhook_secret=MLFLOW_WEBHOOK_SECRET) as reghook:
            yield Stack(mlflow_server, reghook.url, reghook.store, reghook.runtime, settings)
    finally:
        mlflow_server.stop()
