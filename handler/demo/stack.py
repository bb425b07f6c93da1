"""A whole local stack in one process: mlflow server, reghook web app and worker thread.

The mlflow server is subscribed to reghook with a signed webhook, so every
registry change made in the demo reaches reghook the way it would in
production: as a signed delivery from the server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from handler.app import create_app
from handler.demo.server import MlflowServer, free_port
from handler.settings import Settings
from handler.store import Store, upgrade
from handler.worker.runtime import WorkerRuntime, build_runtime

MLFLOW_WEBHOOK_SECRET = "demo-mlflow-webhook-secret"
EVENTS_SECRET = "whsec_ZGVtby1ldmVudHMtc2VjcmV0LWZvci1yZWdob29r"
WEBHOOK_EVENTS: list[Any] = ["registered_model.created", "model_version.created", "model_version_tag.set",
                  "model_version_alias.created", "model_version_alias.deleted"]


@dataclass
class Stack:
    """The running stack's handles."""

    mlflow: MlflowServer
    reghook_url: str
    store: Store
    runtime: WorkerRuntime
    settings: Settings


@contextmanager
def local_stack(root: Path, policy_path: Path) -> Iterator[Stack]:
    """Start mlflow, reghook (app + worker thread) and the webhook; stop all on exit."""
    import os

    from werkzeug.serving import make_server

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
                            log_level="WARNING", backoff_base_s=0.5, backoff_max_s=5)
        store = Store.from_url(database_url)
        runtime = build_runtime(settings, store)
        port = free_port()
        server = make_server("127.0.0.1", port,
                             create_app(settings, store, on_stored=runtime.wake), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        runtime.start_thread()
        url = f"http://127.0.0.1:{port}"
        from mlflow import MlflowClient

        client = MlflowClient(mlflow_server.url)
        webhook = client.create_webhook(name="reghook-demo", url=f"{url}/webhooks/mlflow",
                                        events=WEBHOOK_EVENTS, secret=MLFLOW_WEBHOOK_SECRET)
        try:
            yield Stack(mlflow_server, url, store, runtime, settings)
        finally:
            client.delete_webhook(webhook.webhook_id)
            runtime.stop()
            server.shutdown()
            store.dispose()
    finally:
        mlflow_server.stop()
