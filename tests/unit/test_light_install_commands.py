"""In a light install (no `server` extra) a server command says what to install, no traceback."""

from __future__ import annotations

import subprocess
import sys

# Hide the server stack from this interpreter, as a light install would not have it.
BLOCK = """
import sys, importlib.abc
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("sqlalchemy", "flask", "mlflow", "alembic"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Missing())
from handler.cli import main
main(["events", "list"])
"""


def test_a_server_command_in_a_light_install_names_the_extra_and_exits_2(tmp_path):
    done = subprocess.run([sys.executable, "-c", BLOCK], capture_output=True, text=True,
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH":
                                             str(__import__("pathlib").Path(__file__).parents[2])},
                          timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "pip install 'reghook[server]'" in done.stderr
    assert "Traceback" not in done.stderr
