"""Parse "since" values shared by the CLI and the admin API: ``24h``, ``30m``, ``7d`` or ISO 8601.

Pure: the current time is passed in, so the parser is tested with plain values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Beyond this, timedelta overflows; nobody asks for events of the last 27 centuries.
MAX_SECONDS = 10**11


class SinceError(ValueError):
    """The value is neither a duration like ``24h`` nor an ISO 8601 time."""


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """``24h``, ``30m``, ``7d``, ``90s`` or an ISO 8601 time → an aware UTC datetime (None: no bound).

    A time without an offset is taken as UTC. Raises :class:`SinceError` for
    anything else, including times that cannot be represented.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    digits = value[:-1]
    # ASCII digits only, and few of them: str.isdigit() also takes "²", which
    # int() refuses, and int() refuses strings over 4300 digits.
    if value[-1:] in UNITS and digits.isascii() and digits.isdigit():
        if len(digits) > len(str(MAX_SECONDS)):
            raise SinceError("the duration is too far back")
        seconds = int(digits) * UNITS[value[-1]]
        if seconds > MAX_SECONDS:
            raise SinceError(f"{value!r} is too far back")
        return now.astimezone(UTC) - timedelta(seconds=seconds)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise SinceError("use 24h, 30m, 7d or an ISO 8601 time") from None
