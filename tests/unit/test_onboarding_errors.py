"""Onboarding commands explain a missing setting in one line and exit 2 (docs/cli.md)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from handler.cli import main

DATABRICKS_VARIABLES = ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CLIENT_ID",
                        "DATABRICKS_CLIENT_SECRET", "DATABRICKS_CONFIG_PROFILE")


@pytest.fixture
def no_databricks(monkeypatch, tmp_path):
    """No Databricks credentials anywhere (the autouse fixture already hides ~/.databrickscfg)."""
    for name in DATABRICKS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


def run(*args: str, **env: str):
    return CliRunner().invoke(main, list(args), env=env)


def assert_one_line(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reghook: "), result.output
    for word in words:
        assert word in lines[0]


def test_install_databricks_without_credentials_says_what_to_set(no_databricks):
    result = run("webhooks", "install", "databricks", "--url", "https://r.example.com",
                 REGHOOK_DATABRICKS_SECRETS="s")
    assert_one_line(result, "DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE")


def test_install_databricks_without_a_secret_says_so(no_databricks):
    assert_one_line(run("webhooks", "install", "databricks", "--url", "https://r.example.com"),
                    "REGHOOK_DATABRICKS_SECRETS")


def test_emit_with_databricks_auth_but_no_credentials_exits_2(no_databricks):
    result = run("emit", "run-finished", "--url", "https://r.example.com", "--run-id", "r1",
                 "--databricks-auth", REGHOOK_EMIT_SECRET="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert_one_line(result, "DATABRICKS_HOST")


def test_emit_without_a_secret_or_with_a_bad_url_exits_2(no_databricks):
    assert_one_line(run("emit", "run-finished", "--url", "https://r.example.com", "--run-id", "r"),
                    "REGHOOK_EVENTS_SECRETS")
    assert_one_line(run("emit", "run-finished", "--url", "r.example.com", "--run-id", "r",
                        "--secret", "whsec_x"), "--url")
