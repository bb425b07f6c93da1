"""Send a signed ``run.finished`` event to a reghook (``reghook emit``, the demo, CI steps).

What may pass is retried: a connection error, a timeout, ``429`` or a
``5xx``, with exponential backoff, within a number of attempts and a total
wait. Every attempt carries the same ``webhook-id`` and body (only the
timestamp and signature are fresh), so a reghook that stored an earlier
attempt answers ``duplicate`` and the event is stored once.

Behind a Databricks App the proxy wants a Databricks OAuth token:
:func:`databricks_auth` reads one from databricks-sdk's unified
configuration, imported only then (docs/cli.md).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from handler.backoff import backoff_s
from handler.signatures import sign_standard

ATTEMPTS = 5
MAX_WAIT_S = 60.0
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 16.0
# The SDK retries an unreachable workspace for minutes by default; a training
# job's last step should fail sooner than that.
DATABRICKS_RETRY_TIMEOUT_S = 30

AuthHeaders = Callable[[], Mapping[str, str]]
RetryNotice = Callable[[int, str, float], None]


class DatabricksAuthMissing(Exception):
    """No Databricks credentials were found in the environment or in a config profile."""


DATABRICKS_AUTH_HINT = ("set DATABRICKS_HOST with DATABRICKS_TOKEN, or with DATABRICKS_CLIENT_ID "
                        "and DATABRICKS_CLIENT_SECRET, or DATABRICKS_CONFIG_PROFILE")


def events_url(url: str, *, api: bool = False) -> str:
    """reghook's events URL from its base URL (or the URL itself when it names one).

    ``api``: the route under ``/api/v1``, the one a Databricks App's proxy forwards.
    """
    if url.rstrip("/").endswith("/events"):
        return url
    return url.rstrip("/") + ("/api/v1/events" if api else "/events")


def shown_url(url: str) -> str:
    """``url`` safe to print: without user, password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def databricks_auth() -> AuthHeaders:
    """Headers with a Databricks token, from DATABRICKS_* variables or a config profile.

    Raises :class:`DatabricksAuthMissing` when none is configured. The
    returned callable refreshes an OAuth token when it expires.
    """
    from databricks.sdk.core import Config

    try:
        config = Config(retry_timeout_seconds=DATABRICKS_RETRY_TIMEOUT_S)
    except ValueError as exc:
        raise DatabricksAuthMissing(databricks_auth_problem(exc)) from None
    return config.authenticate


def databricks_auth_problem(exc: ValueError) -> str:
    """One line for databricks-sdk's configuration error, with what to set."""
    # The SDK's sentence ends in a long link; its first clause says enough.
    reason = str(exc).split(", please")[0].splitlines()[0] if str(exc) else "auth is not configured"
    return f"Databricks {reason} — {DATABRICKS_AUTH_HINT}"


def _run_finished_body(run_id: str, model: str | None) -> bytes:
    payload: dict[str, Any] = {"type": "run.finished", "run_id": run_id}
    if model:
        payload["model"] = model
    return json.dumps(payload).encode()


def _retryable(response: requests.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


def post_run_finished(url: str, secret: str, run_id: str, model: str | None = None,
                      timeout_s: float = 30, *, auth: AuthHeaders | None = None,
                      attempts: int = ATTEMPTS, max_wait_s: float = MAX_WAIT_S,
                      on_retry: RetryNotice | None = None,
                      sleep: Callable[[float], None] = time.sleep,
                      clock: Callable[[], float] = time.monotonic) -> requests.Response:
    """POST a Standard-Webhooks-signed ``run.finished`` to ``url``; return reghook's answer.

    Retries as the module says; the last answer is returned (a ``503`` when
    reghook stayed unavailable), or the last connection error is raised.
    Redirects are not followed: a sign-in page is not a delivery.
    """
    body = _run_finished_body(run_id, model)
    msg_id = f"msg_{uuid.uuid4().hex}"
    deadline = clock() + max_wait_s
    last: requests.Response | requests.RequestException | None = None
    for attempt in range(1, attempts + 1):
        timestamp = int(time.time())
        headers = {"content-type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(timestamp),
                   "webhook-signature": sign_standard(secret, msg_id, timestamp, body)}
        if auth is not None:
            headers.update(auth())
        try:
            last = requests.post(events_url(url), data=body, timeout=timeout_s,
                                 headers=headers, allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as exc:
            last = exc
        else:
            if not _retryable(last):
                return last
        wait = backoff_s(attempt, BACKOFF_BASE_S, BACKOFF_MAX_S)
        if attempt == attempts or clock() + wait > deadline:
            break
        if on_retry is not None:
            on_retry(attempt, failure_name(last), wait)
        sleep(wait)
    if isinstance(last, requests.Response):
        return last
    assert last is not None  # attempts >= 1
    raise last


def failure_name(outcome: requests.Response | requests.RequestException) -> str:
    """A short name for a failed attempt: ``HTTP 503`` or the exception's class."""
    if isinstance(outcome, requests.Response):
        return f"HTTP {outcome.status_code}"
    return type(outcome).__name__
