"""The README's module map matches the tree: every path it names exists, every module is named."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


def mapped_paths() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Module map", 1)[1].split("\n## ", 1)[0]
    return {m for row in section.splitlines() if row.startswith("| `")
            for m in re.findall(r"`([^`]+)`", row.split("|")[1])}


def test_every_path_in_the_module_map_exists():
    missing = sorted(p for p in mapped_paths() if not (ROOT / p.rstrip("/")).exists())
    assert missing == []


def test_every_module_and_package_of_handler_is_in_the_module_map():
    named = mapped_paths()
    tree = {f"handler/{p.name}/" if p.is_dir() else f"handler/{p.name}"
            for p in (ROOT / "handler").iterdir()
            if p.name not in ("__init__.py", "__pycache__", "migrations")
            and (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert sorted(tree - named) == []


def test_the_readme_configuration_table_names_every_setting():
    from handler.settings import Settings

    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    expected = {(f.validation_alias.choices[0] if f.validation_alias else f"REGHOOK_{name.upper()}")
                for name, f in Settings.model_fields.items()}
    assert sorted(expected - named) == []
