"""Composition root: the one place where reghook's object graph is built from settings.

The web side wires only settings and the store, so a gunicorn ``web``
process never imports mlflow. The worker side (registry, Databricks
workspace, governance context, router, notifications) is built in
:func:`build_worker`, whose adapters are imported lazily. Tests pass fakes
or wrapped adapters through the same functions.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from handler.settings import Settings

if TYPE_CHECKING:
    from flask import Flask

    from handler.governance.context import Context
    from handler.governance.ports import Registry, Workspace
    from handler.policy import PolicyFile
    from handler.store import Store
    from handler.worker.runtime import WorkerRuntime


def build_store(settings: Settings) -> Store:
    """The event store at ``REGHOOK_DATABASE_URL``."""
    from handler.store import Store

    return Store.from_url(settings.database_url)


def build_web(settings: Settings, store: Store | None = None, *,
              on_stored: Callable[[str], None] | None = None) -> Flask:
    """The web app over the configured store (gunicorn's ``deploy/wsgi.py``, ``reghook serve``)."""
    from handler.web import create_app

    return create_app(settings, store or build_store(settings), on_stored=on_stored)


def worker_owner(settings: Settings) -> str:
    """This worker's name in leases and claims: ``REGHOOK_WORKER_ID`` or host:pid."""
    return settings.worker_id or f"{socket.gethostname()}:{os.getpid()}"


def build_registry(settings: Settings, *, interrupt: threading.Event | None = None) -> Registry:
    """The MLflow registry adapter (imports mlflow); ``interrupt`` ends its long waits."""
    from handler.registry import MlflowRegistry

    return MlflowRegistry(ui_url=settings.mlflow_ui_url, interrupt=interrupt)


def databricks_workspace() -> Workspace:
    """The Databricks adapter (imports databricks-sdk; configured from the environment)."""
    from handler.databricks import DatabricksWorkspace

    return DatabricksWorkspace()


def build_context(settings: Settings, store: Store, policies: PolicyFile, *,
                  registry: Registry | None = None, workspace: Workspace | None = None,
                  owner: str | None = None) -> Context:
    """The governance context: registry, ledger (the store), policies and time budgets."""
    from handler.governance.context import Context

    return Context(registry=registry or build_registry(settings), ledger=store,
                   policies=policies, owner=owner or worker_owner(settings),
                   lease_s=settings.lease_s, ready_timeout_s=settings.ready_timeout_s,
                   workspace=workspace, workspace_factory=databricks_workspace)


def build_worker(settings: Settings, store: Store | None = None, *,
                 registry: Registry | None = None, workspace: Workspace | None = None,
                 owner: str | None = None) -> WorkerRuntime:
    """A worker: the queue loop over the router, the governance context and the notifier."""
    from handler.governance.routes import build_router
    from handler.logs import configure
    from handler.notify.outbox import Notifier
    from handler.policy import load_policy
    from handler.worker.runtime import WorkerRuntime

    configure(settings.log_level)
    store = store or build_store(settings)
    policies = load_policy(settings.policy, unity_catalog=settings.unity_catalog)
    owner = owner or worker_owner(settings)
    # One stop event for the loop and the registry's waits (docs/processing.md: shutdown).
    stopping = threading.Event()
    registry = registry or build_registry(settings, interrupt=stopping)
    context = build_context(settings, store, policies, registry=registry, workspace=workspace,
                            owner=owner)
    router = build_router()
    notifier = Notifier(store, policies.effective_channels, max_attempts=settings.max_attempts,
                        backoff_base_s=settings.backoff_base_s,
                        backoff_max_s=settings.backoff_max_s, mlflow_ui_url=settings.mlflow_ui_url)
    runtime = WorkerRuntime(
        store, settings,
        lambda event: router.dispatch(context, event.id, event.original_source, event.type,
                                      event.body),
        notifier, owner=owner, policies=policies, stopping=stopping)
    runtime.context = context
    if settings.watch_every_s > 0:
        from handler.governance.watch import watch

        runtime.watch = lambda: len([c for c in watch(context, store, store, settings.watch_every_s)
                                     if c.new])
        runtime.watch_every_s = settings.watch_every_s
    return runtime


def tracking_server(settings: Settings) -> str:
    """The MLflow tracking server a worker governs, as said at start-up (docs/configuration.md).

    Without ``MLFLOW_TRACKING_URI`` MLflow would silently create ``./mlflow.db``
    and govern an empty local registry, so a worker refuses to start (the demo
    builds its worker with the URI of the server it starts).
    """
    from handler.errors import ConfigError

    if not settings.mlflow_tracking_uri:
        raise ConfigError("MLFLOW_TRACKING_URI is not set: set it to the tracking server to govern "
                          "(http://mlflow:5000, databricks, …); reghook will not create ./mlflow.db")
    said = f"tracking server {settings.mlflow_tracking_uri}"
    if settings.mlflow_registry_uri:
        said += f", registry {settings.mlflow_registry_uri}"
    return said + (" (Unity Catalog)" if settings.unity_catalog else "")


def prepare_store(settings: Settings, *, create_new_sqlite: bool = False) -> None:
    """Check that the store's schema is current; never migrate one (docs/cli.md#db-upgrade).

    ``create_new_sqlite``: ``reghook serve`` on its embedded SQLite default may
    create a store that does not exist yet (a first run, the demo), but an
    existing older one is left for ``reghook db upgrade``.
    """
    from handler.store import require_current_schema, store_is_new, upgrade

    if create_new_sqlite and settings.database_url.startswith("sqlite") \
            and store_is_new(settings.database_url):
        upgrade(settings.database_url)
        return
    require_current_schema(settings.database_url)


def run_worker(settings: Settings, *, once: bool, registry: Registry | None = None) -> None:
    """Run the worker loop in this process (``reghook worker``), with its probes port if set."""
    from handler.logs import configure
    from handler.worker.probes import Probes
    from handler.worker.shutdown import stop_on_signals

    configure(settings.log_level)
    prepare_store(settings)
    runtime = build_worker(settings, registry=registry)
    # Give the current event back and leave on SIGTERM (Kubernetes, Procfile
    # platforms); an event cut off by SIGKILL is retaken when its lease ends.
    stop_on_signals(runtime)
    probes = None
    if settings.worker_port is not None:
        probes = Probes(runtime, runtime.store, host=settings.worker_host,
                        port=settings.worker_port, stale_after_s=2.0 * settings.lease_s)
        probes.start()
    try:
        if once:
            runtime.drain()
        else:
            runtime.run_forever()
    finally:
        if probes is not None:
            probes.close()


def serve_embedded(settings: Settings, *, host: str, port: int, with_worker: bool,
                   threads: int = 8) -> None:
    """One process: gunicorn (one gthread worker) serving the app, a worker thread beside it."""
    from gunicorn.app.base import BaseApplication

    prepare_store(settings, create_new_sqlite=True)
    if with_worker:
        # Fail here with a clear message, not inside gunicorn's worker boot.
        from handler.policy import load_policy

        load_policy(settings.policy)
    runtime: Any = None

    class Embedded(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {
                "bind": f"{host}:{port}", "workers": 1, "worker_class": "gthread",
                "threads": threads, "accesslog": None, "errorlog": "-",
                "control_socket_disable": True,
                "worker_exit": lambda _server, _worker: runtime and runtime.stop(),
            }.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            # Runs in the forked gunicorn worker, so the worker thread lives
            # in the same process as the app that wakes it.
            nonlocal runtime
            if with_worker:
                runtime = build_worker(settings)
                runtime.start_thread()
                return build_web(settings, on_stored=runtime.wake)
            return build_web(settings)

    Embedded().run()
