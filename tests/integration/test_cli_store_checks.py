"""Only ``reghook db upgrade`` migrates; every other command says what to do in one line.

A newer CLI on a laptop must not migrate production under running pods
(docs/cli.md#db-upgrade); a store that is missing, behind, unreachable or
named with a ``postgres://`` URL is one line on stderr and an exit code, not
a traceback (docs/cli.md#exit-codes).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner, Result

from handler.bootstrap import prepare_store
from handler.cli import main
from handler.settings import Settings
from handler.store import SchemaNotCurrent, alembic_config, schema_revisions


def run(*args: str, **env: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def assert_one_line(result: Result, code: int, *words: str) -> str:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def store_at(tmp_path: Path, revision: str) -> str:
    """An SQLite store migrated only up to ``revision`` (an older reghook's schema)."""
    url = f"sqlite:///{tmp_path / 'older.db'}"
    command.upgrade(alembic_config(url), revision)
    return url


def test_events_list_before_db_upgrade_says_to_run_it_and_creates_nothing(tmp_path):
    path = tmp_path / "never-created.db"
    result = run("events", "list", REGHOOK_DATABASE_URL=f"sqlite:///{path}")
    assert_one_line(result, 2, "no schema", "reghook db upgrade")
    assert not path.exists()


@pytest.mark.parametrize("args", [("events", "list"), ("history", "churn"), ("replay", "--status",
                                  "failed"), ("govern", "--run-id", "r1"), ("promote", "churn", "1"),
                                  ("sweep",), ("worker", "--once")])
def test_commands_other_than_db_upgrade_refuse_an_older_schema_and_leave_it(tmp_path, args):
    url = store_at(tmp_path, "0002")
    result = run(*args, REGHOOK_DATABASE_URL=url, MLFLOW_TRACKING_URI="http://127.0.0.1:9")
    assert_one_line(result, 2, "0002", "run reghook db upgrade")
    assert schema_revisions(url)[0] == "0002"


def test_db_upgrade_migrates_an_older_schema(tmp_path):
    url = store_at(tmp_path, "0002")
    assert run("db", "upgrade", REGHOOK_DATABASE_URL=url).exit_code == 0
    current, head = schema_revisions(url)
    assert current == head


def test_serve_creates_a_new_sqlite_store_but_never_migrates_an_existing_one(tmp_path):
    fresh = f"sqlite:///{tmp_path / 'first-run.db'}"
    prepare_store(Settings(database_url=fresh), create_new_sqlite=True)
    assert schema_revisions(fresh)[0] == schema_revisions(fresh)[1]
    older = store_at(tmp_path, "0002")
    with pytest.raises(SchemaNotCurrent, match="run reghook db upgrade"):
        prepare_store(Settings(database_url=older), create_new_sqlite=True)
    assert schema_revisions(older)[0] == "0002"


def test_a_postgres_scheme_url_says_to_use_postgresql_psycopg():
    result = run("events", "list", REGHOOK_DATABASE_URL="postgres://u:secret@db.example/reghook")
    line = assert_one_line(result, 2, "postgresql+psycopg://")
    assert "secret" not in line


def test_an_unreachable_postgresql_is_one_line_without_the_password():
    result = run("events", "list",
                 REGHOOK_DATABASE_URL="postgresql+psycopg://postgres:hunter2@127.0.0.1:9/test")
    line = assert_one_line(result, 1, "cannot reach the event store", "127.0.0.1:9")
    assert "hunter2" not in line


def test_events_list_with_an_unknown_status_lists_the_valid_ones(sqlite_url):
    result = run("events", "list", "--status", "bogus", REGHOOK_DATABASE_URL=sqlite_url)
    assert result.exit_code == 2
    for status in ("queued", "processing", "done", "ignored", "failed", "rejected"):
        assert status in result.stderr


def test_replay_without_arguments_says_what_it_needs(sqlite_url):
    result = run("replay", REGHOOK_DATABASE_URL=sqlite_url)
    assert result.exit_code == 2
    assert "event ids" in result.stderr and "--status failed" in result.stderr
    assert "not both" not in result.stderr


@pytest.mark.parametrize("args", [("worker", "--once"), ("govern", "--run-id", "r1"), ("sweep",)])
def test_a_worker_without_a_tracking_server_refuses_instead_of_creating_mlflow_db(
        monkeypatch, tmp_path, sqlite_url, args):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = run(*args, REGHOOK_DATABASE_URL=sqlite_url)
    assert_one_line(result, 2, "MLFLOW_TRACKING_URI")
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
