"""Send a signed ``run.finished`` event to a reghook (``reghook emit``, the demo, CI steps)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import requests

from handler.signatures import sign_standard


def events_url(url: str) -> str:
    """reghook's ``/events`` URL from its base URL (or the URL itself)."""
    return url if url.rstrip("/").endswith("/events") else url.rstrip("/") + "/events"


def post_run_finished(url: str, secret: str, run_id: str, model: str | None = None,
                      timeout_s: float = 30) -> requests.Response:
    """POST a Standard-Webhooks-signed ``run.finished``; return reghook's response."""
    payload: dict[str, Any] = {"type": "run.finished", "run_id": run_id}
    if model:
        payload["model"] = model
    body = json.dumps(payload).encode()
    msg_id, timestamp = f"msg_{uuid.uuid4().hex}", int(time.time())
    return requests.post(events_url(url), data=body, timeout=timeout_s, headers={
        "content-type": "application/json", "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_standard(secret, msg_id, timestamp, body)})
