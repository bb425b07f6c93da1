"""The ledger: audit trail, alias history, registration claims and reghook's own writes.

Registrations make "one version per (model, run)" hold across workers and
crashes: a worker first claims the (model, run) row under a lease, then
searches the registry, registers only if nothing is there, and records the
version. A crash leaves the claim to expire; the next worker searches again
and adopts what the crashed one registered.

Own writes are recorded *before* each registry write, so the webhook MLflow
echoes back (which may arrive before the write call even returns) is
recognised and causes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from handler.errors import BadRequest
from handler.outcomes import Outcome
from handler.records import AliasMove, AuditEntry
from handler.store.engine import Transactions, as_utc, utcnow
from handler.store.rows import alias_move_json, audit_json
from handler.store.tables import alias_history, audit, own_writes, registrations


def _utc(value: datetime) -> datetime:
    # SQLite compares stored times as naive UTC text: convert, not just tag.
    aware = as_utc(value)
    assert aware is not None
    return aware.astimezone(UTC)


def _timeline_cursor(before: str | None) -> tuple[int | None, int | None]:
    """The two ids of a timeline cursor (None, None: the first page)."""
    if not before:
        return None, None
    try:
        audit_id, move_id = (int(part) for part in before.split("."))
    except ValueError:
        raise BadRequest("before: not a cursor this history gave (use its \"next\").") from None
    return audit_id, move_id


def _newest(connection: Connection, table: Table, model: str, before: int | None,
            limit: int, since: datetime | None = None, until: datetime | None = None
            ) -> list[Any]:
    """Up to ``limit + 1`` rows of a model in ``table``, newest first, below id ``before``.

    ``since`` / ``until`` bound the rows' time (``at``): since inclusive, until exclusive.
    """
    query = select(table).where(table.c.model == model)
    if before is not None:
        query = query.where(table.c.id < before)
    if since is not None:
        query = query.where(table.c.at >= _utc(since))
    if until is not None:
        query = query.where(table.c.at < _utc(until))
    return list(connection.execute(query.order_by(table.c.id.desc()).limit(limit + 1)).all())


@dataclass(frozen=True)
class Registration:
    """The state of one (model, run) registration claim."""

    status: str  # "registered" | "claimed" | "busy"
    version: str | None = None


class Ledger:
    """Audit, alias history, registration claims and own-write records."""

    tx: Transactions

    # --- decisions -----------------------------------------------------------------

    def record(self, entries: Iterable[AuditEntry] = (), moves: Iterable[AliasMove] = (),
               outcomes: Iterable[tuple[str, Outcome]] = ()) -> None:
        """Write audit entries, alias moves and queued notifications in ONE transaction."""
        from handler.store.outbox import enqueue  # the outbox's SQL lives there

        now = utcnow()
        with self.tx.write() as connection:
            for entry in entries:
                connection.execute(insert(audit).values(
                    at=now, kind=entry.kind, model=entry.model, version=entry.version,
                    alias=entry.alias, event_id=entry.event_id, actor=entry.actor,
                    detail=json.dumps(entry.detail, sort_keys=True, default=str)))
            for move in moves:
                connection.execute(insert(alias_history).values(
                    model=move.model, alias=move.alias, version=move.version,
                    previous_version=move.previous_version, at=now, actor=move.actor,
                    event_id=move.event_id, reason=move.reason))
            for channel, outcome in outcomes:
                enqueue(connection, sqlite=self.tx.sqlite, channel=channel, outcome=outcome,
                        now=now)

    def audit_trail(self, model: str, limit: int = 1000) -> list[dict[str, Any]]:
        """A model's newest ``limit`` audit entries, oldest first.

        The newest, not the first: a long history must not lose its latest
        decisions. Read backwards through ``audit (model, id)``.
        """
        with self.tx.read() as connection:
            rows = connection.execute(select(audit).where(audit.c.model == model)
                                      .order_by(audit.c.id.desc()).limit(limit)).all()
        return [audit_json(r) for r in reversed(rows)]

    def timeline(self, model: str, *, limit: int = 100, before: str | None = None,
                 since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
        """One page of a model's history, newest first: audit entries, alias moves, next cursor.

        ``before`` is the ``next`` of the previous page (docs/admin-api.md): an
        opaque ``"<audit id>.<alias move id>"``, each part the last id shown
        of its list (0 once a list is exhausted). Both lists are read
        backwards by index (``(model, id)``), so a page costs the same at
        thousands of versions. A malformed ``before`` raises
        :class:`~handler.errors.BadRequest`. ``since`` (inclusive) and
        ``until`` (exclusive) bound the entries' time; the same bounds must
        be given with each page's cursor. Reads only the audit tables, which
        a purge never touches, so the export is whole after a purge
        (docs/processing.md#retention).
        """
        audit_before, moves_before = _timeline_cursor(before)
        with self.tx.read() as connection:
            entries = _newest(connection, audit, model, audit_before, limit, since, until)
            moves = _newest(connection, alias_history, model, moves_before, limit, since, until)
        more_entries, more_moves = len(entries) > limit, len(moves) > limit
        entries, moves = entries[:limit], moves[:limit]
        cursor = None
        if more_entries or more_moves:
            cursor = (f"{entries[-1].id if more_entries else 0}."
                      f"{moves[-1].id if more_moves else 0}")
        return {"model": model, "entries": [audit_json(r) for r in entries],
                "aliases": [alias_move_json(r) for r in moves], "next": cursor}

    def last_verdict(self, model: str, version: str) -> str | None:
        """The status of the latest ``validated`` entry for a version (None: never validated)."""
        with self.tx.read() as connection:
            detail = connection.execute(
                select(audit.c.detail).where(audit.c.model == model, audit.c.version == version,
                                             audit.c.kind == "validated")
                .order_by(audit.c.id.desc()).limit(1)).scalar_one_or_none()
        return json.loads(detail).get("status") if detail else None

    def alias_moves(self, model: str, alias: str | None = None) -> list[dict[str, Any]]:
        """Every recorded move of a model's aliases, oldest first."""
        query = select(alias_history).where(alias_history.c.model == model)
        if alias:
            query = query.where(alias_history.c.alias == alias)
        with self.tx.read() as connection:
            rows = connection.execute(query.order_by(alias_history.c.id)).all()
        return [alias_move_json(r) for r in rows]

    # --- registrations -----------------------------------------------------------

    def claim_registration(self, model: str, run_id: str, owner: str, event_id: str,
                           lease_s: float) -> Registration:
        """Claim the right to register (model, run): registered / claimed / busy."""
        now = utcnow()
        dialect = sqlite if self.tx.sqlite else postgresql
        with self.tx.write() as connection:
            # RETURNING, not rowcount: with psycopg an INSERT ... ON CONFLICT DO
            # NOTHING reports rowcount -1 whether or not it inserted, and every
            # worker on PostgreSQL believed it held the claim.
            inserted = connection.execute(
                dialect.insert(registrations).values(
                    model=model, run_id=run_id, version=None, status="registering", owner=owner,
                    lease_until=now + timedelta(seconds=lease_s), event_id=event_id,
                    updated_at=now,
                ).on_conflict_do_nothing(index_elements=["model", "run_id"])
                .returning(registrations.c.run_id)).first()
            if inserted is not None:
                return Registration("claimed")
            row = connection.execute(select(registrations).where(
                registrations.c.model == model, registrations.c.run_id == run_id)).one()
            if row.status == "registered":
                return Registration("registered", row.version)
            # Only a retry of the same event by the same owner may reuse a live
            # claim. The owner alone is not enough: two threads of one process
            # (or `reghook govern` beside a worker with the same REGHOOK_WORKER_ID)
            # share it, and both would register.
            retry = row.owner == owner and row.event_id == event_id
            if not retry and (as_utc(row.lease_until) or now) > now:
                return Registration("busy")
            # A retry, or an expired claim: take it over atomically.
            taken = connection.execute(update(registrations).where(
                registrations.c.model == model, registrations.c.run_id == run_id,
                registrations.c.status == "registering", registrations.c.owner == row.owner,
            ).values(owner=owner, lease_until=now + timedelta(seconds=lease_s),
                     event_id=event_id, updated_at=now)).rowcount
        return Registration("claimed" if taken else "busy")

    def complete_registration(self, model: str, run_id: str, version: str) -> None:
        """Record the version registered (or adopted) for (model, run)."""
        with self.tx.write() as connection:
            connection.execute(update(registrations).where(
                registrations.c.model == model, registrations.c.run_id == run_id,
            ).values(status="registered", version=version, lease_until=None,
                     updated_at=utcnow()))

    def release_registration(self, model: str, run_id: str, owner: str) -> None:
        """Give up a claim without registering (the run failed the gates with register: passing)."""
        with self.tx.write() as connection:
            connection.execute(delete(registrations).where(
                registrations.c.model == model, registrations.c.run_id == run_id,
                registrations.c.status == "registering", registrations.c.owner == owner))

    def registered_by_reghook(self, model: str, version: str) -> bool:
        """Whether reghook registered (or adopted) this version through a run.finished flow."""
        with self.tx.read() as connection:
            return connection.execute(select(registrations.c.run_id).where(
                registrations.c.model == model, registrations.c.version == version)
            ).first() is not None

    def registering(self, model: str, run_id: str, event_id: str | None = None) -> bool:
        """Whether (model, run) is being registered — by ``event_id``, if given — with no version yet.

        Without an event id only a live claim counts: a dead worker's claim is not "being".
        """
        query = select(registrations.c.run_id).where(
            registrations.c.model == model, registrations.c.run_id == run_id,
            registrations.c.version.is_(None), registrations.c.status == "registering")
        if event_id is not None:
            query = query.where(registrations.c.event_id == event_id)
        else:
            query = query.where(registrations.c.lease_until > utcnow())
        with self.tx.read() as connection:
            return connection.execute(query).first() is not None

    # --- own writes (echo recognition) ---------------------------------------------

    def note_own_write(self, model: str, version: str | None, kind: str, key: str | None,
                       value: str | None, event_id: str | None) -> None:
        """Remember a registry write about to be made, to recognise its echo."""
        with self.tx.write() as connection:
            connection.execute(insert(own_writes).values(
                model=model, version=version, kind=kind, key=key, value=value, at=utcnow(),
                event_id=event_id))

    def consume_own_write(self, model: str, version: str | None, kind: str, key: str | None,
                          value: str | None, within_s: float = 3600) -> bool:
        """True (and forget it) if reghook recently made exactly this write."""
        since = utcnow() - timedelta(seconds=within_s)
        conditions = [own_writes.c.model == model, own_writes.c.kind == kind,
                      own_writes.c.at >= since]
        for column, value_ in ((own_writes.c.version, version), (own_writes.c.key, key),
                               (own_writes.c.value, value)):
            conditions.append(column.is_(None) if value_ is None else column == value_)
        with self.tx.write() as connection:
            row_id = connection.execute(select(own_writes.c.id).where(*conditions)
                                        .order_by(own_writes.c.id).limit(1)).scalar_one_or_none()
            if row_id is None:
                return False
            connection.execute(delete(own_writes).where(own_writes.c.id == row_id))
        return True
