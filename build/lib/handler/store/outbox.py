"""The outbox: notifications queued with the decision they report, then sent once.

A row is keyed by (channel, model, version, outcome), so a replayed or
re-processed event queues nothing new. :func:`enqueue` takes an open
connection: governance calls it inside the transaction that records the
decision, so a message exists if and only if the decision was committed.

Sending follows the queue's lease protocol (:mod:`handler.store.lease`): a
claim (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
SQLite) is committed *before* the HTTP call, under a lease; every later
write is fenced by the claim's owner, so a sender whose lease ran out cannot
overwrite the result of the one that took over. Statuses: ``pending`` →
``sending`` → ``sent`` | ``failed`` (or back to ``pending`` with a later
``next_attempt_at``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect

from handler.outcomes import Outcome
from handler.store.engine import Transactions, as_utc, iso
from handler.store.lease import Leases
from handler.store.tables import audit, outbox

_KEY_LIMIT = 600  # the dedupe_key column's length
OUTBOX_LEASES = Leases(outbox, waiting="pending", held="sending",
                       order=(outbox.c.next_attempt_at, outbox.c.id))


def outbox_key(channel: str, outcome: Outcome) -> str:
    """The row's unique key: the channel and the outcome's (model, version, kind)."""
    key = f"{channel}\x1f{outcome.dedupe_key}"
    if len(key) <= _KEY_LIMIT:
        return key
    # Absurdly long model names still need a unique, stable key that fits.
    return f"{channel[:120]}\x1fsha256:{hashlib.sha256(key.encode()).hexdigest()}"


def enqueue(connection: Connection, *, sqlite: bool, channel: str, outcome: Outcome,
            now: datetime) -> bool:
    """Queue ``outcome`` for ``channel`` on an OPEN connection; True if it was new.

    Call it inside the transaction that records the decision: the message is
    committed, or rolled back, with it.
    """
    dialect = sqlite_dialect if sqlite else postgresql
    statement = dialect.insert(outbox).values(
        dedupe_key=outbox_key(channel, outcome), channel=channel,
        model=outcome.model[:300], version=(outcome.version or None),
        outcome=outcome.kind[:32], event_id=(outcome.event_id or "")[:40] or None,
        message=json.dumps(outcome.to_json(), sort_keys=True, default=str),
        status="pending", attempts=0, throttled=0, next_attempt_at=now, created_at=now,
    ).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(outbox.c.id)
    # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT DO NOTHING.
    return connection.execute(statement).first() is not None


@dataclass(frozen=True)
class OutboxMessage:
    """A queued message held under a claim (``lease_owner`` fences every write)."""

    id: int
    channel: str
    dedupe_key: str
    outcome: Outcome
    attempts: int  # HTTP attempts charged, this claim included; 429s are refunded
    throttled: int  # HTTP 429 answers so far
    lease_owner: str
    created_at: datetime


class Outbox:
    """Queue, claim and settle notifications (the only place outbox SQL lives)."""

    tx: Transactions

    def claim_due(self, *, now: datetime, limit: int = 1,
                  lease_s: float = 60.0) -> list[OutboxMessage]:
        """Claim up to ``limit`` due messages (pending, or sending with an expired lease).

        The claim is committed when this returns, before anything is sent.
        Each claim charges one attempt, so a message that kills its sender
        every time still runs out of attempts.
        """
        owner = uuid.uuid4().hex
        with self.tx.write() as connection:
            rows = OUTBOX_LEASES.claim(connection, owner=owner, now=now, lease_s=lease_s,
                                       limit=limit)
        # The rows as read before the claim: count the attempt it charged.
        return [OutboxMessage(
            id=row.id, channel=row.channel, dedupe_key=row.dedupe_key,
            outcome=Outcome.from_json(json.loads(row.message)), attempts=row.attempts + 1,
            throttled=row.throttled, lease_owner=owner,
            created_at=as_utc(row.created_at) or now,
        ) for row in rows]

    def _settle(self, message_id: int, owner: str, **values: Any) -> bool:
        with self.tx.write() as connection:
            return OUTBOX_LEASES.settle(connection, message_id, owner, **values)

    def mark_sent(self, message_id: int, owner: str, *, now: datetime) -> bool:
        """Record a delivery, and a ``notified`` audit entry with it; False if the claim was lost."""
        with self.tx.write() as connection:
            settled = OUTBOX_LEASES.settle(connection, message_id, owner, status="sent",
                                           sent_at=now, next_attempt_at=None)
            if settled:
                row = connection.execute(select(outbox).where(outbox.c.id == message_id)).one()
                # The trail says who was told what; the channel by name, never its URL.
                connection.execute(insert(audit).values(
                    at=now, kind="notified", model=row.model, version=row.version, alias=None,
                    event_id=row.event_id, actor="reghook",
                    detail=json.dumps({"channel": row.channel, "outcome": row.outcome})))
        return settled

    def mark_retry(self, message_id: int, owner: str, *, next_attempt_at: datetime,
                   error: str, throttled: bool = False) -> bool:
        """Put the message back, due at ``next_attempt_at``.

        ``throttled`` (HTTP 429): the attempt is refunded and counted as a
        throttle instead, so rate limiting does not use up the outage budget.
        """
        values: dict[str, Any] = {"status": "pending", "next_attempt_at": next_attempt_at,
                                  "last_error": error}
        if throttled:
            values.update(attempts=outbox.c.attempts - 1, throttled=outbox.c.throttled + 1)
        return self._settle(message_id, owner, **values)

    def release(self, message_id: int, owner: str, *, next_attempt_at: datetime) -> bool:
        """Give a claim back unsent and uncharged (pacing: the channel is not free yet)."""
        return self._settle(message_id, owner, status="pending",
                            next_attempt_at=next_attempt_at, attempts=outbox.c.attempts - 1)

    def mark_failed(self, message_id: int, owner: str, *, error: str) -> bool:
        """Record a permanent failure (never retried; visible in :meth:`list_outbox`)."""
        return self._settle(message_id, owner, status="failed", last_error=error,
                            next_attempt_at=None)

    def next_outbox_due(self) -> datetime | None:
        """When the next message becomes due (pending, or an expiring lease); None: none."""
        with self.tx.read() as connection:
            return OUTBOX_LEASES.next_due(connection)

    def list_outbox(self, *, status: str | None = None, channel: str | None = None,
                    model: str | None = None, event_id: str | None = None,
                    limit: int = 50) -> list[dict[str, Any]]:
        """Queued and sent messages, newest first (channel names only, never URLs)."""
        query = select(outbox).order_by(outbox.c.id.desc())
        for column, value in ((outbox.c.status, status), (outbox.c.channel, channel),
                              (outbox.c.model, model), (outbox.c.event_id, event_id)):
            if value is not None:
                query = query.where(column == value)
        with self.tx.read() as connection:
            rows = connection.execute(query.limit(limit)).all()
        return [{
            "id": row.id, "channel": row.channel, "model": row.model, "version": row.version,
            "outcome": row.outcome, "event_id": row.event_id, "status": row.status,
            "attempts": row.attempts, "throttled": row.throttled,
            "next_attempt_at": iso(row.next_attempt_at), "last_error": row.last_error,
            "created_at": iso(row.created_at), "sent_at": iso(row.sent_at),
        } for row in rows]
