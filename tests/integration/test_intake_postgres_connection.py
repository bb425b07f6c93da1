"""The PostgreSQL intake insert runs in autocommit; the rest of the store must not inherit that.

The insert is one autocommitted statement (one round trip, committed before
the 202). Its connection then goes back to the pool, where SQLAlchemy hands
it to code that relies on transactions (claims, replays, the admin API).
"""

from __future__ import annotations

import psycopg
import pytest

from handler.store import Store

pytestmark = pytest.mark.postgres


def _ingest(store: Store, key: str, body: str = "{}") -> tuple[str, bool]:
    return store.ingest(source="mlflow", event_type="model_version.created",
                        idempotency_key=key, status="queued", body=body, headers={})


def _pooled_connection_autocommits(store: Store) -> bool:
    raw = store.engine.raw_connection()
    try:
        return bool(raw.driver_connection.autocommit)  # type: ignore[union-attr]
    finally:
        raw.close()


def test_an_intake_hands_its_connection_back_in_transaction_mode(postgres_url):
    store = Store.from_url(postgres_url)
    try:
        event_id, created = _ingest(store, "delivery-1")
        assert created and store.get_event(event_id) is not None
        assert _pooled_connection_autocommits(store) is False
        assert _ingest(store, "delivery-1") == (event_id, False)  # the duplicate: same id
    finally:
        store.dispose()


def test_a_failed_intake_hands_its_connection_back_in_transaction_mode(postgres_url):
    store = Store.from_url(postgres_url)
    try:
        with pytest.raises(psycopg.DataError):
            _ingest(store, "delivery-nul", body="\x00")  # PostgreSQL text refuses NUL
        assert _pooled_connection_autocommits(store) is False
        assert store.count_events() == 0
        assert _ingest(store, "delivery-2")[1] is True
    finally:
        store.dispose()
