"""The ``reghook`` command line as a package: it imports cleanly, lists every command, has no cycles."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from handler.cli import main
from handler.cli.inputs import since_bound

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "handler" / "cli"

TOP_LEVEL = {"compare", "db", "demo", "deprecate", "emit", "events", "govern", "history", "policy",
             "promote", "replay", "rollback", "serve", "sweep", "watch", "webhooks", "worker"}
NESTED = {"db upgrade", "emit run-finished", "events list", "events purge", "events show",
          "policy check",
          "policy init", "policy schema", "webhooks install", "webhooks install databricks",
          "webhooks install mlflow"}

# Runs in the child: import the CLI, walk its command tree, report what else got imported.
CHILD = r"""
import json, sys
import click
from handler.cli import main

def walk(group, prefix):
    for name, command in group.commands.items():
        path = f"{prefix} {name}".strip()
        yield path
        if isinstance(command, click.Group):
            yield from walk(command, path)

print(json.dumps({"commands": sorted(walk(main, "")),
                  "heavy": [m for m in ("mlflow", "databricks.sdk") if m in sys.modules]}))
"""


def fresh_python(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run this interpreter from the repository root with a clean environment."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "REGHOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=60, check=False)


def test_reghook_help_lists_every_command_from_a_fresh_interpreter(tmp_path):
    completed = fresh_python("-m", "handler.cli", "--help", tmp_path=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("Usage: reghook ")
    listed = {line.split()[0] for line in completed.stdout.split("Commands:")[1].splitlines()
              if line.startswith("  ")}
    assert listed == TOP_LEVEL


def test_importing_the_cli_registers_every_command_and_stays_light(tmp_path):
    completed = fresh_python("-c", CHILD, tmp_path=tmp_path)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert set(report["commands"]) == TOP_LEVEL | NESTED
    # `reghook --help` must not pay for the registry clients.
    assert report["heavy"] == []


def test_no_command_module_imports_the_package_back():
    for module in PACKAGE.glob("*.py"):
        if module.name in ("__init__.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "handler.cli", f"{module.name} imports handler.cli"
            elif isinstance(node, ast.Import):
                assert "handler.cli" not in {alias.name for alias in node.names}, module.name


@pytest.mark.parametrize("args", [
    ["events", "list", "--since", "yesterday"],
    ["events", "list", "--since", "99999999999d"],
    ["replay", "--status", "failed", "--since", "last week"],
])
def test_a_since_that_does_not_parse_is_a_usage_error(monkeypatch, tmp_path, args):
    monkeypatch.setenv("REGHOOK_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for --since" in result.stderr
    assert result.stdout == ""


def test_since_bound_reads_durations_and_times():
    assert since_bound(None) is None
    assert since_bound("2026-01-02T03:04:05Z").isoformat() == "2026-01-02T03:04:05+00:00"
    with pytest.raises(click.BadParameter):
        since_bound("yesterday")
