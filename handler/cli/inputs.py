"""What commands read besides their arguments: settings, the store, ``--since``.

Each bad input is a click usage error, so the command exits 2 with a
one-line reason instead of a traceback.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from pydantic import ValidationError

from handler.settings import Settings
from handler.since import SinceError, parse_since


def load_settings() -> Settings:
    """The ``REGHOOK_*`` settings; invalid ones are a usage error (exit 2)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise click.UsageError(f"Invalid REGHOOK_* settings: {exc}") from exc


def open_store(settings: Settings) -> Any:
    """The event store of these settings, whose schema must be current (docs/cli.md).

    Never migrates: a schema that is missing or behind is a configuration
    error (exit 2) telling the operator to run ``reghook db upgrade``.
    Imported late, so ``--help`` stays fast.
    """
    from handler.store import Store, require_current_schema

    require_current_schema(settings.database_url)
    return Store.from_url(settings.database_url)


def since_bound(value: str | None) -> datetime | None:
    """A ``--since`` value (``24h``, ``7d``, ISO time) as an aware UTC datetime; None when not given.

    A value that is neither is a bad parameter (exit 2).
    """
    try:
        return parse_since(value, datetime.now(UTC))
    except SinceError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
