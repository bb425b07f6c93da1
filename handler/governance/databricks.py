"""Databricks sources: Workspace registry webhooks and job notifications.

Not built yet: these events are stored and marked ``ignored`` with a reason
that says so, so nothing is lost and they can be replayed once it is.
"""

from __future__ import annotations

from typing import Any

from handler.governance import Governor
from handler.governance.core import Result, ignored


def dispatch_databricks(governor: Governor, event_id: str, event_type: str,
                        payload: dict[str, Any]) -> Result:
    """Databricks Workspace Model Registry events."""
    return ignored(f"Databricks registry event {event_type} is stored; handling is not built yet")


def dispatch_job(governor: Governor, event_id: str, event_type: str,
                 payload: dict[str, Any]) -> Result:
    """Databricks job notifications."""
    return ignored(f"Databricks job notification {event_type} is stored; handling is not built yet")
