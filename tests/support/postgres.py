"""A throwaway PostgreSQL database on the machine's server, per test.

Skips when PostgreSQL is unreachable, unless REGHOOK_REQUIRE_POSTGRES=1
(set by .ci/run), where it fails instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

ADMIN_URL = os.environ.get("REGHOOK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _connect(dbname: str | None = None):  # type: ignore[no-untyped-def]
    import psycopg

    url = ADMIN_URL if dbname is None else ADMIN_URL.rsplit("/", 1)[0] + f"/{dbname}"
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


@contextmanager
def temporary_database() -> Iterator[str]:
    """Create a fresh database, yield its SQLAlchemy URL, drop it afterwards."""
    try:
        admin = _connect()
    except Exception as exc:  # noqa: BLE001 - any connection failure means "not available"
        if os.environ.get("REGHOOK_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (REGHOOK_REQUIRE_POSTGRES=1) but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    name = f"reghook_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    finally:
        with _connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
