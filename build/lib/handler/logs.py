"""Structured logs: one JSON object per line on stderr (structlog).

Never log secrets, signatures or webhook URLs: callers pass ids and names
only, and :func:`redact` scrubs any URL that slips into an error message.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_URL = re.compile(r"https?://[^\s'\"<>]+")
_configured = False


def redact(text: str) -> str:
    """Replace every URL in ``text`` by its scheme and host only."""
    return _URL.sub(lambda m: "/".join(m.group(0).split("/")[:3]) + "/<redacted>", text)


def configure(level: str = "INFO") -> None:
    """Set up JSON logging once per process."""
    global _configured
    if _configured:
        return
    _configured = True
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(message)s")
    # Werkzeug and urllib3 would log request lines that may carry URLs.
    for noisy in ("werkzeug", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    """A structlog logger bound to a component name."""
    return structlog.get_logger(component=name)
