"""The Notifier: send what the outbox holds, once, with retries — never blocking registry work.

Messages were queued by the governance code in the same transaction as the
decision they report (``handler.store.outbox.enqueue``). Here each due
message is claimed (committed before the HTTP call), sent, and settled:

- sent → done;
- 429 → due again after ``Retry-After`` (30 s when absent); the attempt is
  refunded, so throttling never uses up the outage budget, but
  ``max_throttled`` still bounds it;
- 5xx, timeout, no connection → exponential backoff with jitter, failed
  after ``max_attempts``;
- any other 4xx, a redirect, a bad URL, a channel no longer configured →
  failed at once, with the reason recorded.

A sender killed between posting and recording leaves its claim to expire:
the message is sent once more (at most one duplicate per crash; ``webhook``
receivers can drop it by ``webhook-id``).

Slack webhooks take about one message per second, Teams about four: the pace
of each webhook and its 429 holds live in the store
(:mod:`handler.store.pacing`), so several workers posting to one webhook
stay under its limit together. A message the pace refuses is put back until
its booked slot, not slept on.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol, TextIO

from handler.backoff import backoff_s
from handler.channels import ChannelConfig
from handler.logs import get_logger, redact
from handler.metrics import NOTIFICATIONS
from handler.notify.send import (
    SendResult,
    Session,
    message_id,
    new_session,
    quiet_transport_logs,
    send,
)
from handler.outcomes import Outcome

log = get_logger("notify")

DEFAULT_RETRY_AFTER_S = 30.0
MAX_RETRY_AFTER_S = 3600.0  # a channel asking for more than an hour is treated as an hour
PACE_S = {"slack": 1.0, "teams": 0.25}  # Slack: ~1 msg/s per webhook; Teams: 4 req/s


class OutboxMessage(Protocol):
    """A claimed message, as the store hands it out (``handler.store.outbox``)."""

    @property
    def id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def dedupe_key(self) -> str: ...
    @property
    def outcome(self) -> Outcome: ...
    @property
    def attempts(self) -> int: ...
    @property
    def throttled(self) -> int: ...
    @property
    def lease_owner(self) -> str: ...


class OutboxStore(Protocol):
    """What the Notifier needs from the store (``handler.store.Store`` provides it)."""

    def claim_due(self, *, now: datetime, limit: int = 1,
                  lease_s: float = 60.0) -> Sequence[OutboxMessage]: ...
    def mark_sent(self, message_id: int, owner: str, *, now: datetime) -> bool: ...
    def mark_retry(self, message_id: int, owner: str, *, next_attempt_at: datetime,
                   error: str, throttled: bool = False) -> bool: ...
    def release(self, message_id: int, owner: str, *, next_attempt_at: datetime) -> bool: ...
    def mark_failed(self, message_id: int, owner: str, *, error: str) -> bool: ...
    def next_outbox_due(self) -> datetime | None: ...
    def take_slot(self, key: str, *, now: datetime, interval_s: float) -> datetime | None: ...
    def hold_channel(self, key: str, *, until: datetime) -> None: ...


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Notifier:
    """Sends due outbox messages to the configured channels."""

    def __init__(self, store: OutboxStore, channels: dict[str, ChannelConfig], *,
                 session: Session | None = None, clock: Callable[[], float] = time.time,
                 max_attempts: int = 8, backoff_base_s: float = 2.0,
                 backoff_max_s: float = 600.0, lease_s: float = 60.0,
                 max_throttled: int = 50, mlflow_ui_url: str | None = None,
                 jitter: Callable[[], float] = random.random,
                 stdout: TextIO | None = None) -> None:
        quiet_transport_logs()
        self.store = store
        self.channels = dict(channels)
        self.session = session or new_session()
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.lease_s = lease_s
        self.max_throttled = max_throttled
        self.mlflow_ui_url = mlflow_ui_url
        self.jitter = jitter
        self.stdout = stdout

    def send_due(self, limit: int = 50) -> int:
        """Send up to ``limit`` due messages; how many were settled (sent, retried or failed).

        Messages deferred for pacing are not counted: a worker looping
        ``while notifier.send_due(): ...`` stops, and sleeps ``next_due_in()``.
        """
        settled = 0
        for _ in range(limit):
            now = self.clock()
            # One claim per message: the lease only has to outlast one HTTP call.
            claimed = self.store.claim_due(now=_at(now), limit=1, lease_s=self.lease_s)
            if not claimed:
                break
            settled += self._handle(claimed[0], now)
        return settled

    def next_due_in(self) -> float | None:
        """Seconds until the next message is due (0: now), None when nothing is pending."""
        due = self.store.next_outbox_due()
        return None if due is None else max(0.0, due.timestamp() - self.clock())

    def backoff_s(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed attempt: exponential, capped, jittered."""
        return backoff_s(attempts, self.backoff_base_s, self.backoff_max_s, rand=self._draw)

    def _draw(self, _low: float, ceiling: float) -> float:
        # Notifications keep their own jitter: between half the ceiling and all
        # of it (never less than half: no hot loops), drawn from ``jitter``.
        return ceiling * (0.5 + 0.5 * self.jitter())

    # --- one message ----------------------------------------------------------------

    def _handle(self, message: OutboxMessage, now: float) -> int:
        config = self.channels.get(message.channel)
        if config is None:
            return self._fail(message, "unknown", f"channel {message.channel!r} is not "
                              "configured any more (removed from the policy?); not sent")
        if message.attempts > self.max_attempts:
            # Only claims that never reported back get here: the sender died mid-send.
            return self._fail(message, config.type, f"gave up after {message.attempts - 1} "
                              "attempts that never reported back (sender stopped mid-send)")
        slot = self._pace(config, now)
        if slot is not None:
            self.store.release(message.id, message.lease_owner, next_attempt_at=slot)
            return 0
        try:
            result = send(self.session, config, message.outcome,
                          msg_id=message_id(message.dedupe_key), now=now,
                          mlflow_ui_url=self.mlflow_ui_url, stdout=self.stdout)
        except Exception as exc:  # noqa: BLE001 - a rendering bug must not wedge the queue: retry, bounded
            result = SendResult("retry", error=f"internal error ({type(exc).__name__})")
            log.error("notification_error", outbox_id=message.id, channel=message.channel,
                      error=redact(repr(exc))[:300])
        return self._settle(message, config, result, now)

    def _settle(self, message: OutboxMessage, config: ChannelConfig, result: SendResult,
                now: float) -> int:
        owner, error = message.lease_owner, result.error or ""
        if result.status == "sent":
            self.store.mark_sent(message.id, owner, now=_at(now))
            self._log(message, config, "sent", note=result.note)
            return 1
        if result.status == "permanent":
            return self._fail(message, config.type, error)
        if result.throttled:
            if message.throttled + 1 >= self.max_throttled:
                return self._fail(message, config.type, f"gave up after {message.throttled + 1} "
                                  f"throttled attempts; last: {error}")
            wait = result.retry_after_s
            wait = DEFAULT_RETRY_AFTER_S if wait is None else min(wait, MAX_RETRY_AFTER_S)
            self._hold(config, now + wait)  # the whole webhook is throttled, not one message
            self.store.mark_retry(message.id, owner, next_attempt_at=_at(now + wait),
                                  error=error, throttled=True)
            self._log(message, config, "throttled", error=error, retry_in_s=wait)
            return 1
        if message.attempts >= self.max_attempts:
            return self._fail(message, config.type,
                              f"gave up after {message.attempts} attempts; last: {error}")
        wait = self.backoff_s(message.attempts)
        self.store.mark_retry(message.id, owner, next_attempt_at=_at(now + wait), error=error)
        self._log(message, config, "retry", error=error, retry_in_s=round(wait, 3))
        return 1

    def _fail(self, message: OutboxMessage, channel_type: str, error: str) -> int:
        self.store.mark_failed(message.id, message.lease_owner, error=error)
        self._log(message, None, "failed", error=error, channel_type=channel_type)
        return 1

    def _log(self, message: OutboxMessage, config: ChannelConfig | None, result: str,
             channel_type: str | None = None, **details: object) -> None:
        # Channel *names* and ids only: the URL never reaches a log line.
        kind = channel_type or (config.type if config else "unknown")
        NOTIFICATIONS.labels(channel_type=kind, result=result).inc()
        fields = {k: v for k, v in details.items() if v is not None}
        outcome = message.outcome
        event = log.warning if result in ("failed", "throttled") else log.info
        event(f"notification_{result}", outbox_id=message.id, channel=message.channel,
              channel_type=kind, model=outcome.model, version=outcome.version,
              outcome=outcome.kind, event_id=outcome.event_id, attempts=message.attempts,
              **fields)

    # --- pacing -----------------------------------------------------------------------

    @staticmethod
    def _pace_key(config: ChannelConfig) -> str | None:
        """The webhook's key in the store's pace table: its URL's hash (None: no URL, no pace)."""
        if config.url is None:
            return None
        return hashlib.sha256(config.url.get_secret_value().encode()).hexdigest()

    def _pace(self, config: ChannelConfig, now: float) -> datetime | None:
        """None: send now. Otherwise the slot this message is put back until."""
        key = self._pace_key(config)
        if key is None:
            return None
        return self.store.take_slot(key, now=_at(now), interval_s=PACE_S.get(config.type, 0.0))

    def _hold(self, config: ChannelConfig, until: float) -> None:
        key = self._pace_key(config)
        if key is not None:
            self.store.hold_channel(key, until=_at(until))
