"""The event store's schema (SQLAlchemy Core); migrations live in handler/migrations.

Times are stored as UTC. ``events`` is also the inbox: ``(source,
idempotency_key)`` is unique, and rows are deleted only by ``reghook events
purge`` (:mod:`handler.store.retention`), never within the 30 days senders may
retry for, so idempotency keys outlive every retry.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("source", String(20), nullable=False),
    Column("type", String(120), nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("lease_owner", String(80), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("body", Text, nullable=False),
    Column("headers", Text, nullable=False),
    Column("replay_of", String(40), nullable=True),
    UniqueConstraint("source", "idempotency_key", name="uq_events_source_key"),
    Index("ix_events_claim", "status", "next_attempt_at"),
    # 0004: newest first (received_at DESC, id DESC) under every filter the list
    # offers; the rationale is in handler/migrations/versions/0004_newest_first_indexes.py.
    Index("ix_events_newest", "received_at", "id"),
    Index("ix_events_status_newest", "status", "received_at", "id"),
    Index("ix_events_source_newest", "source", "received_at", "id"),
    Index("ix_events_type_newest", "type", "received_at", "id"),
    Index("ix_events_source_type_newest", "source", "type", "received_at", "id"),
    # 0005: all three filters at once, however rare the combination.
    Index("ix_events_status_source_type_newest", "status", "source", "type", "received_at", "id"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(40), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("worker", String(80), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("error", Text, nullable=True),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("model", String(300), nullable=True),
    Column("version", String(40), nullable=True),
    Column("alias", String(120), nullable=True),
    Column("event_id", String(40), nullable=True, index=True),
    Column("actor", String(200), nullable=False),
    Column("detail", Text, nullable=False),
    # 0004: a model's timeline newest first by id, and one version's entries.
    Index("ix_audit_model_id", "model", "id"),
    Index("ix_audit_model_version", "model", "version", "id"),
    # 0005: a model's entries of one kind (rollbacks; a version's latest verdict).
    Index("ix_audit_model_kind", "model", "kind", "version", "id"),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(300), nullable=False),
    Column("alias", String(120), nullable=False),
    Column("version", String(40), nullable=True),
    Column("previous_version", String(40), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("event_id", String(40), nullable=True),
    Column("reason", Text, nullable=True),
    Index("ix_alias_history_model", "model", "alias", "id"),
    Index("ix_alias_history_model_id", "model", "id"),
    # 0005: one version's moves (the comparison's spells).
    Index("ix_alias_history_model_version", "model", "version", "id"),
)

registrations = Table(
    "registrations",
    metadata,
    Column("model", String(300), primary_key=True),
    Column("run_id", String(64), primary_key=True),
    Column("version", String(40), nullable=True),
    Column("status", String(16), nullable=False),
    Column("owner", String(80), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("event_id", String(40), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_registrations_version", "model", "version"),
)

own_writes = Table(
    "own_writes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(300), nullable=False),
    Column("version", String(40), nullable=True),
    Column("kind", String(20), nullable=False),
    Column("key", String(250), nullable=True),
    Column("value", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("event_id", String(40), nullable=True),
    Index("ix_own_writes_lookup", "model", "kind", "key", "version"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(600), nullable=False, unique=True),
    Column("channel", String(120), nullable=False),
    Column("model", String(300), nullable=True),
    Column("version", String(40), nullable=True),
    Column("outcome", String(32), nullable=False),
    Column("event_id", String(40), nullable=True),
    Column("message", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    # 0002: who holds the claim (fences late writes), and HTTP 429s apart from attempts.
    Column("lease_owner", String(80), nullable=True),
    Column("throttled", Integer, nullable=False, default=0, server_default="0"),
    Index("ix_outbox_claim", "status", "next_attempt_at"),
)

# What the registry watch has seen of each policy model (docs/processing.md), and
# who looked last: a look is claimed per model so several workers never look at once.
watch_state = Table(
    "watch_state",
    metadata,
    Column("model", String(300), primary_key=True),
    Column("state", Text, nullable=True),
    Column("looked_at", DateTime(timezone=True), nullable=True),
    Column("owner", String(80), nullable=True),
)

# 0006: the pace of each chat webhook, shared by every worker (handler/store/pacing.py).
# Keyed by the URL's SHA-256: the URL is a secret and never stored here.
channel_pace = Table(
    "channel_pace",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("last_sent_at", DateTime(timezone=True), nullable=True),
    Column("booked_until", DateTime(timezone=True), nullable=True),
    Column("held_until", DateTime(timezone=True), nullable=True),
)
