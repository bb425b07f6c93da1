"""Rows as JSON: the shapes the admin API and ``--json`` promise (docs/admin-api.md)."""

from __future__ import annotations

import json
from typing import Any

from handler.store.engine import iso


def event_json(row: Any) -> dict[str, Any]:
    """An event row as the admin API and ``--json`` show it."""
    return {
        "id": row.id,
        "source": row.source,
        "type": row.type,
        "status": row.status,
        "received_at": iso(row.received_at),
        "updated_at": iso(row.updated_at),
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at),
        "last_error": row.last_error,
        "reason": row.reason,
        "idempotency_key": row.idempotency_key,
        "replay_of": row.replay_of,
    }


def audit_json(row: Any) -> dict[str, Any]:
    """An audit entry: who did what to which version, when, why, caused by which event."""
    return {
        "at": iso(row.at),
        "kind": row.kind,
        "model": row.model,
        "version": row.version,
        "alias": row.alias,
        "event_id": row.event_id,
        "actor": row.actor,
        "detail": json.loads(row.detail),
    }


def alias_move_json(row: Any) -> dict[str, Any]:
    """One move of an alias, with the holder before it."""
    return {
        "at": iso(row.at),
        "alias": row.alias,
        "version": row.version,
        "previous_version": row.previous_version,
        "actor": row.actor,
        "event_id": row.event_id,
        "reason": row.reason,
    }
