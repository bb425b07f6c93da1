"""Shared fixtures: settings, stores (SQLite and PostgreSQL), the Flask app, a real mlflow server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from handler.settings import Settings
from handler.store import Store, upgrade
from handler.web import create_app
from tests.support.mlflow_server import MlflowServer
from tests.support.postgres import temporary_database

FIXTURES = Path(__file__).parent / "fixtures"
MLFLOW_SECRET = "s3cret"
EVENTS_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ADMIN_TOKEN = "admin-token-for-tests"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads a developer's REGHOOK_* settings or ~/.databrickscfg."""
    import os

    for key in list(os.environ):
        if key.startswith("REGHOOK_") and key not in ("REGHOOK_REQUIRE_POSTGRES",
                                                      "REGHOOK_TEST_POSTGRES_URL"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))


@pytest.fixture
def captured_deliveries() -> list[dict]:
    """Real MLflow deliveries captured from a live server (secret ``s3cret``)."""
    lines = (FIXTURES / "mlflow_deliveries.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite event store in the test's own folder."""
    url = f"sqlite:///{tmp_path / 'reghook.db'}"
    upgrade(url)
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database created for this test and dropped after it."""
    with temporary_database() as url:
        upgrade(url)
        yield url


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    """Settings with every route enabled and the admin API on."""
    return Settings(
        database_url=sqlite_url,
        mlflow_secrets=MLFLOW_SECRET,
        databricks_secrets="dbx-secret",
        databricks_jobs_user="jobs",
        databricks_jobs_password="jobs-password",
        events_secrets=EVENTS_SECRET,
        admin_token=ADMIN_TOKEN,
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """The SQLite store behind ``settings``."""
    s = Store.from_url(settings.database_url)
    yield s
    s.dispose()


@pytest.fixture
def app(settings: Settings, store: Store):  # type: ignore[no-untyped-def]
    """The Flask app over the SQLite store."""
    return create_app(settings, store)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    """Flask's test client."""
    return app.test_client()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real ``mlflow server`` (sqlite backend) for the whole session."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    yield server
    server.stop()
