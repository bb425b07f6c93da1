"""Post one message to one channel and classify the answer (the only module using requests).

Every attempt ends as one :class:`SendResult`: ``sent``, ``retry`` (a 429
carries the wait the channel asked for) or ``permanent``. A webhook URL is
a secret, and requests quotes it — host *and path* — in its exception
messages, so errors here are built from the exception's type, the HTTP
status and a scrubbed snippet of the body; never from ``str(exc)``.

=====================  ==========  ====================================
answer                 result      why
=====================  ==========  ====================================
2xx                    sent        Slack says ``ok``; Teams Workflows 202
429                    retry       after ``Retry-After`` (None: not given)
5xx, 1xx               retry       the channel is having an outage
timeout, no connection retry       the same, seen from here
3xx                    permanent   a webhook URL that redirects is wrong
other 4xx              permanent   resending the same bytes cannot help
bad URL                permanent   configuration, not weather
=====================  ==========  ====================================
"""

from __future__ import annotations

import hashlib
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, TextIO
from urllib.parse import urlsplit

import requests

from handler.channels import ChannelConfig
from handler.logs import redact
from handler.notify.render import encode, log_line, slack_payload, teams_payload, webhook_body
from handler.outcomes import Outcome
from handler.signatures import sign_standard

TIMEOUT_S = 10.0
Session = requests.Session

# Misconfiguration: retrying cannot fix these.
_BAD_URL = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader,
            requests.exceptions.URLRequired)


@dataclass(frozen=True)
class SendResult:
    """How one attempt ended. ``error`` never contains the channel's URL."""

    status: Literal["sent", "retry", "permanent"]
    error: str | None = None
    throttled: bool = False  # HTTP 429
    retry_after_s: float | None = None  # what a 429 asked for; None when it did not say
    http_status: int | None = None
    note: str | None = None  # a success worth a log line (Slack 2xx without "ok")


def new_session() -> Session:
    """A requests session for the notifier (one per process; connections are reused)."""
    return requests.Session()


class _DropTransportLines(logging.Filter):
    """urllib3's request lines quote the request path, and a webhook's path is its secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


_DROP = _DropTransportLines()


def quiet_transport_logs() -> None:
    """Silence urllib3's per-request log lines, whatever the log level (idempotent)."""
    for name in ("urllib3.connectionpool", "urllib3.util.retry"):
        logger = logging.getLogger(name)
        if _DROP not in logger.filters:
            logger.addFilter(_DROP)


def message_id(dedupe_key: str) -> str:
    """A stable ``webhook-id`` per message, so receivers can drop a crash's duplicate."""
    return "msg_" + hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date); None if unusable."""
    if not value or not value.strip():
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.fromtimestamp(now, UTC)).total_seconds())


def _scrub(text: str, url: str) -> str:
    """A short, single-line body snippet with the URL, its path and query removed."""
    parts = urlsplit(url)
    for secret in (url, parts.path if len(parts.path) > 1 else "", parts.query):
        if secret:
            text = text.replace(secret, "<redacted>")
    return redact(" ".join(text.split()))[:200]


def classify(status: int, body: str, *, url: str, slack: bool) -> SendResult:
    """Turn an HTTP answer into sent / retry / permanent (``url`` only to scrub the body)."""
    snippet = _scrub(body, url)
    error = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if 200 <= status < 300:
        odd = slack and not (status == 200 and body.strip() == "ok")
        return SendResult("sent", http_status=status,
                          note=f"Slack answered {error} instead of 200 ok" if odd else None)
    if status == 429:
        return SendResult("retry", error=error, throttled=True, http_status=status)
    if status >= 500 or status < 200:
        return SendResult("retry", error=error, http_status=status)
    if 300 <= status < 400:
        return SendResult("permanent", http_status=status,
                          error=f"HTTP {status}: the webhook URL redirects (not followed)")
    return SendResult("permanent", error=error, http_status=status)


def post(session: Session, url: str, body: bytes, headers: dict[str, str], *,
         slack: bool = False, now: float = 0.0, timeout: float = TIMEOUT_S) -> SendResult:
    """POST ``body`` to ``url`` once and classify the result."""
    try:
        response = session.post(url, data=body, headers=headers, timeout=timeout,
                                allow_redirects=False)
    except requests.Timeout:  # before ConnectionError: ConnectTimeout is both
        return SendResult("retry", error=f"no answer within {timeout:g} s (timeout)")
    except _BAD_URL as exc:
        return SendResult("permanent", error=f"the channel URL is unusable ({type(exc).__name__})")
    except requests.ConnectionError as exc:
        return SendResult("retry", error=f"could not connect ({type(exc).__name__})")
    except requests.RequestException as exc:
        return SendResult("retry", error=f"request failed ({type(exc).__name__})")
    with response:
        result = classify(response.status_code, response.text, url=url, slack=slack)
        if result.throttled:
            wait = parse_retry_after(response.headers.get("Retry-After"), now)
            result = SendResult("retry", error=result.error, throttled=True,
                                retry_after_s=wait, http_status=429)
    return result


def build_request(channel: ChannelConfig, outcome: Outcome, *, msg_id: str, now: float,
                  mlflow_ui_url: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers for a slack / teams / webhook channel."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if channel.type == "slack":
        return encode(slack_payload(outcome, mlflow_ui_url)), headers
    if channel.type == "teams":
        return encode(teams_payload(outcome, mlflow_ui_url)), headers
    body = encode(webhook_body(outcome, mlflow_ui_url))
    secret = channel.secret.get_secret_value() if channel.secret else ""
    timestamp = str(int(now))
    headers.update({"webhook-id": msg_id, "webhook-timestamp": timestamp,
                    "webhook-signature": sign_standard(secret, msg_id, timestamp, body)})
    return body, headers


def send(session: Session, channel: ChannelConfig, outcome: Outcome, *, msg_id: str,
         now: float, mlflow_ui_url: str | None = None, stdout: TextIO | None = None,
         timeout: float = TIMEOUT_S) -> SendResult:
    """Deliver ``outcome`` to one channel once: render, sign if needed, post, classify."""
    if channel.type == "log":
        out = stdout or sys.stdout
        out.write(log_line(outcome, mlflow_ui_url) + "\n")
        out.flush()
        return SendResult("sent")
    if channel.url is None:  # ChannelConfig forbids this; kept for a clear message
        return SendResult("permanent", error=f"the {channel.type} channel has no url")
    body, headers = build_request(channel, outcome, msg_id=msg_id, now=now,
                                  mlflow_ui_url=mlflow_ui_url)
    return post(session, channel.url.get_secret_value(), body, headers,
                slack=channel.type == "slack", now=now, timeout=timeout)
