"""Route a stored event to its use case by (source, type), in the spirit of gidgethub's ``Router``.

Event types are plain strings, so a new type a sender starts to send never
breaks the worker: it has no route and ends ``ignored``. A source may fold
its types into families first (Databricks' ``TRANSITION_REQUEST_TO_STAGING_CREATED``
is a ``TRANSITION_REQUEST_CREATED``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from handler.errors import PermanentError
from handler.governance.context import Context
from handler.governance.results import Result, ignored


@dataclass(frozen=True)
class RoutedEvent:
    """A stored event as a use case sees it: its id, where it came from, its type and payload."""

    id: str
    source: str
    type: str
    payload: dict[str, Any]


Handler = Callable[[Context, RoutedEvent], Result]


class Router:
    """A table from (source, type) to the handler that acts on it."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Handler] = {}
        self._families: dict[str, Callable[[str], str | None]] = {}

    def add(self, handler: Handler, sources: str | tuple[str, ...], *types: str) -> None:
        """Route each of ``types`` from each of ``sources`` to ``handler``."""
        for source in (sources,) if isinstance(sources, str) else sources:
            for event_type in types:
                self._routes[(source, event_type)] = handler

    def fold(self, source: str, family: Callable[[str], str | None]) -> None:
        """Look up ``source``'s types by ``family(type)`` (None: no route)."""
        self._families[source] = family

    def handler_for(self, source: str, event_type: str) -> Handler | None:
        """The handler for an event, or None when reghook does not act on it."""
        family = self._families.get(source)
        key = family(event_type) if family is not None else event_type
        return self._routes.get((source, key)) if key is not None else None

    def dispatch(self, ctx: Context, event_id: str, source: str, event_type: str,
                 body: str) -> Result:
        """Process one stored event with its handler (unknown: ``ignored``)."""
        handler = self.handler_for(source, event_type)
        if handler is None:
            return ignored(f"reghook does not act on {event_type} (from {source})")
        try:
            payload = json.loads(body)
        except ValueError:
            raise PermanentError("the stored body is not JSON") from None
        if not isinstance(payload, dict):
            raise PermanentError("the stored body is not a JSON object")
        return handler(ctx, RoutedEvent(event_id, source, event_type, payload))
