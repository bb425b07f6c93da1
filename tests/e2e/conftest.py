"""Fixtures shared by the end-to-end tests of the command line."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from handler.store import upgrade
from tests.support.harness import policy_yaml


@dataclass(frozen=True)
class CliEnv:
    """What `reghook` commands run against: a policy model, its experiment, the store."""

    model: str
    experiment: str
    database_url: str


@pytest.fixture
def cli_env(mlflow_server, tmp_path, monkeypatch) -> CliEnv:
    """Environment for `reghook` commands: policy, migrated store, tracking URI (no worker)."""
    suffix = uuid.uuid4().hex[:8]
    model, experiment = f"churn_cli_{suffix}", f"/Shared/cli_{suffix}"
    policy = tmp_path / "reghook.yaml"
    policy.write_text(policy_yaml(model, experiment))
    database_url = f"sqlite:///{tmp_path / 'reghook.db'}"
    upgrade(database_url)
    monkeypatch.setenv("REGHOOK_DATABASE_URL", database_url)
    monkeypatch.setenv("REGHOOK_POLICY", str(policy))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    return CliEnv(model, experiment, database_url)
