"""Composition root: builds the real object graph from settings.

The web side wires only settings and the store, so a gunicorn ``web``
process never imports mlflow. The worker side (registry, governance,
notifications) is built in :func:`build_worker`, imported lazily.
"""

from __future__ import annotations

import signal
from typing import Any

from flask import Flask

from handler.settings import Settings


def build_web(settings: Settings, *, on_stored: Any = None) -> Flask:
    """The web app over the configured store (used by gunicorn's ``deploy/wsgi.py``)."""
    from handler.app import create_app
    from handler.store import Store

    return create_app(settings, Store.from_url(settings.database_url), on_stored=on_stored)


def build_worker(settings: Settings) -> Any:
    """The worker runtime with the real registry and notifier (imports mlflow)."""
    from handler.worker.runtime import build_runtime

    return build_runtime(settings)


def run_worker(settings: Settings, *, once: bool) -> None:
    """Run the worker loop in this process (``reghook worker``)."""
    from handler.logs import configure

    configure(settings.log_level)
    runtime = build_worker(settings)
    # Finish the current event and leave on SIGTERM (Kubernetes, Procfile
    # platforms); an event cut off by SIGKILL is retaken when its lease ends.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: runtime.stop())
    if once:
        runtime.drain()
    else:
        runtime.run_forever()


def serve_embedded(settings: Settings, *, host: str, port: int, with_worker: bool,
                   threads: int = 8) -> None:
    """One process: gunicorn (one gthread worker) serving the app, a worker thread beside it."""
    from gunicorn.app.base import BaseApplication

    from handler.store import upgrade

    upgrade(settings.database_url)  # embedded default: create the SQLite store on first run
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
