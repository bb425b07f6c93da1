"""`pip install reghook` (no extra) is enough for `reghook emit` (docs/cli.md): no server stack imported."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
SERVER_STACK = ("flask", "werkzeug", "gunicorn", "sqlalchemy", "alembic", "psycopg", "yaml",
                "structlog", "prometheus_client", "mlflow", "databricks")

PROBE = """
import sys
from handler.cli import main
try:
    main(["emit", "run-finished", "--help"])
except SystemExit as exit:
    assert exit.code == 0, exit.code
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_emit_imports_nothing_of_the_server_stack():
    loaded = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                            check=True, cwd=ROOT, timeout=60).stdout.split("\n")[-2].split()
    assert [name for name in SERVER_STACK if name in loaded] == []


def test_the_default_install_is_the_light_client():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {dep.split("[")[0].split(">")[0].split("=")[0].split("<")[0]
             for dep in project["dependencies"]}
    assert names <= {"click", "requests", "pydantic", "pydantic-settings", "rich"}
    assert all("==" not in dep for dep in project["dependencies"] + project["optional-dependencies"]
               ["server"])  # ranges; the image's exact versions are in requirements.lock
