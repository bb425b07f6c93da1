"""The registry watch's memory: what it has seen of each model, and who looks when.

A look at a model is claimed with one conditional write (the model's row is
due when its last look is older than the interval), so with several workers
on PostgreSQL exactly one of them looks per interval; the others skip it.
The state itself is a small JSON document per model.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from handler.store.engine import Transactions, utcnow
from handler.store.tables import audit, watch_state


class WatchLog:
    """Watch state per model and the claim of each look."""

    tx: Transactions

    def claim_watch_look(self, model: str, owner: str, every_s: float) -> bool:
        """Whether ``owner`` may look at ``model`` now (no look in the last ``every_s``)."""
        now = utcnow()
        dialect = sqlite if self.tx.sqlite else postgresql
        with self.tx.write() as connection:
            connection.execute(dialect.insert(watch_state).values(model=model)
                               .on_conflict_do_nothing(index_elements=["model"]))
            # RETURNING, not rowcount: psycopg's rowcount is not reliable here.
            claimed = connection.execute(
                update(watch_state).where(
                    watch_state.c.model == model,
                    or_(watch_state.c.looked_at.is_(None),
                        watch_state.c.looked_at <= now - timedelta(seconds=every_s)))
                .values(looked_at=now, owner=owner).returning(watch_state.c.model)).first()
        return claimed is not None

    def watch_state(self, model: str) -> dict[str, Any] | None:
        """What the watch saw of ``model`` at its last look (None: it never looked)."""
        with self.tx.read() as connection:
            text = connection.execute(select(watch_state.c.state).where(
                watch_state.c.model == model)).scalar_one_or_none()
        return json.loads(text) if text else None

    def save_watch_state(self, model: str, state: dict[str, Any]) -> None:
        """Remember what the watch saw of ``model``."""
        dialect = sqlite if self.tx.sqlite else postgresql
        text = json.dumps(state, sort_keys=True)
        with self.tx.write() as connection:
            connection.execute(dialect.insert(watch_state).values(model=model, state=text)
                               .on_conflict_do_update(index_elements=["model"],
                                                      set_={"state": text}))

    def passed_versions(self, model: str, limit: int = 20) -> list[str]:
        """The newest versions whose latest verdict is ``passed``, newest first (at most ``limit``)."""
        with self.tx.read() as connection:
            rows = connection.execute(
                select(audit.c.version, audit.c.detail).where(
                    audit.c.model == model, audit.c.kind == "validated")
                .order_by(audit.c.id.desc()).limit(limit * 10)).all()
        latest: dict[str, str | None] = {}
        for version, detail in rows:
            if version is not None and version not in latest:
                latest[version] = json.loads(detail).get("status") if detail else None
        passed = [v for v, status in latest.items() if status == "passed"]
        return sorted(passed, key=lambda v: int(v) if v.isdigit() else 0, reverse=True)[:limit]
