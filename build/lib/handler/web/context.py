"""What the blueprints share: the objects :func:`handler.web.create_app` was given.

Kept on ``app.extensions`` rather than in module globals so two apps (tests
build many) never see each other's store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from flask import current_app

from handler.intake import Intake
from handler.settings import Settings
from handler.store import Store

EXTENSION = "reghook"


@dataclass(frozen=True)
class WebContext:
    """The settings, store and intake use case one app serves with."""

    settings: Settings
    store: Store
    intake: Intake
    on_stored: Callable[[str], None] | None
    clock: Callable[[], float]

    def now(self) -> datetime:
        """The app's clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock(), UTC)

    def stored(self, event_id: str) -> None:
        """Tell the worker (when one shares this process) that an event awaits it."""
        if self.on_stored is not None:
            self.on_stored(event_id)


def web_context() -> WebContext:
    """The context of the app handling the current request."""
    return cast(WebContext, current_app.extensions[EXTENSION])
