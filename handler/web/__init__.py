"""The web app: routes only. Raw body in, one call into a use case, JSON out.

Blueprints: :mod:`~handler.web.webhooks` (one intake route per source),
:mod:`~handler.web.admin` (the bearer-token admin API) and
:mod:`~handler.web.probes` (health, readiness, metrics); every error is
answered as JSON by :mod:`~handler.web.errors`.

Must stay light: serving requests never imports ``mlflow`` or
``databricks.sdk`` (a test checks this from a fresh interpreter). Anything
that needs the registry (rollback) is queued as an event for the worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask

from handler.intake import Intake
from handler.logs import configure as configure_logs
from handler.settings import Settings
from handler.store import Store
from handler.web import admin, console, probes, webhooks
from handler.web.context import EXTENSION, WebContext
from handler.web.errors import register_error_handlers
from handler.web.webhooks import read_body

__all__ = ["create_app", "read_body"]


def create_app(
    settings: Settings,
    store: Store,
    *,
    on_stored: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> Flask:
    """Build the web app over ``store``; ``on_stored`` is told of each event to act on.

    The settings and the store are built by the composition root
    (:func:`handler.bootstrap.build_web`); tests pass their own.
    """
    configure_logs(settings.log_level)
    app = Flask("reghook")
    # Werkzeug answers "//events" with a redirect built from the Host header
    # the caller chose: no redirects, an unknown path is a 404.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    app.extensions[EXTENSION] = WebContext(
        settings=settings, store=store,
        intake=Intake(settings, store, clock=clock, on_stored=on_stored),
        on_stored=on_stored, clock=clock)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(probes.bp)
    app.register_blueprint(console.bp)
    register_error_handlers(app)
    return app
