"""A typo must not page the team: promote, rollback and govern check what they name first.

An unknown model, version or run, or a string that is not a run id, exits 2
with one line; no event is stored and no notification is queued
(docs/cli.md#governance). Against a real mlflow server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from handler.cli import main
from handler.store import Store
from tests.support.churn import log_churn_run

pytestmark = pytest.mark.mlflow


@pytest.fixture
def store(cli_env) -> Iterator[Store]:
    """The store the commands write to, to look into."""
    store = Store.from_url(cli_env.database_url)
    yield store
    store.dispose()


@pytest.mark.parametrize("typo", [
    ("promote", "NOPE", "1"),
    ("promote", "{model}", "99"),
    ("rollback", "NOPE"),
    ("govern", "--run-id", "bad"),
    ("govern", "--run-id", "0123456789abcdef0123456789abcdef"),
    ("govern", "--run-id", "{run}", "--model", "NOPE"),
])
def test_a_typo_exits_2_and_stores_and_sends_nothing(cli_env, store, mlflow_server, typo):
    model, experiment = cli_env.model, cli_env.experiment
    run = log_churn_run(mlflow_server.url, experiment, good=True, seed=3) if "{run}" in typo else None
    args = [a.format(model=model, run=run.run_id if run else "") for a in typo]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert store.count_events() == 0
    assert store.list_outbox() == []
