"""A typo must not page the team: promote, rollback and govern check what they name first.

An unknown model, version or run, or a string that is not a run id, exits 2
with one line; no event is stored and no notification is queued
(docs/cli.md#governance). Against a real mlflow server.
"""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner

from handler.cli import main
from handler.store import Store, upgrade
from tests.support.churn import log_churn_run
from tests.support.harness import policy_yaml

pytestmark = pytest.mark.mlflow


@pytest.fixture
def cli_env(mlflow_server, tmp_path, monkeypatch):
    """Policy, store and tracking URI for `reghook` commands; the store to look into."""
    suffix = uuid.uuid4().hex[:8]
    model, experiment = f"churn_typo_{suffix}", f"/Shared/typo_{suffix}"
    policy = tmp_path / "reghook.yaml"
    policy.write_text(policy_yaml(model, experiment))
    database_url = f"sqlite:///{tmp_path / 'reghook.db'}"
    upgrade(database_url)
    monkeypatch.setenv("REGHOOK_DATABASE_URL", database_url)
    monkeypatch.setenv("REGHOOK_POLICY", str(policy))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    store = Store.from_url(database_url)
    yield model, experiment, store
    store.dispose()


@pytest.mark.parametrize("typo", [
    ("promote", "NOPE", "1"),
    ("promote", "{model}", "99"),
    ("rollback", "NOPE"),
    ("govern", "--run-id", "bad"),
    ("govern", "--run-id", "0123456789abcdef0123456789abcdef"),
    ("govern", "--run-id", "{run}", "--model", "NOPE"),
])
def test_a_typo_exits_2_and_stores_and_sends_nothing(cli_env, mlflow_server, typo):
    model, experiment, store = cli_env
    run = log_churn_run(mlflow_server.url, experiment, good=True, seed=3) if "{run}" in typo else None
    args = [a.format(model=model, run=run.run_id if run else "") for a in typo]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert store.count_events() == 0
    assert store.list_outbox() == []
