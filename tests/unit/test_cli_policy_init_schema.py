"""``reghook policy init`` writes a starter that passes ``policy check``; ``policy schema`` is JSON Schema.

The starter is docs/reghook.example.yaml (docs/cli.md#policy-init).
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from handler.cli import main
from handler.policy_template import STARTER_POLICY

ROOT = Path(__file__).resolve().parents[2]


def test_policy_init_writes_a_commented_starter_that_policy_check_accepts(tmp_path):
    target = tmp_path / "reghook.yaml"
    written = CliRunner().invoke(main, ["policy", "init", str(target)])
    assert written.exit_code == 0, written.output
    assert target.read_text().count("\n#") + target.read_text().count("  #") > 10  # commented
    checked = CliRunner().invoke(main, ["policy", "check", str(target)])
    assert checked.exit_code == 0, checked.output


def test_policy_init_never_overwrites_without_force(tmp_path):
    target = tmp_path / "reghook.yaml"
    target.write_text("models: []\n")
    refused = CliRunner().invoke(main, ["policy", "init", str(target)])
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert target.read_text() == "models: []\n"
    assert CliRunner().invoke(main, ["policy", "init", str(target), "--force"]).exit_code == 0
    assert target.read_text() == STARTER_POLICY


def test_the_sample_in_docs_is_the_starter():
    assert (ROOT / "docs" / "reghook.example.yaml").read_text() == STARTER_POLICY


def test_policy_schema_prints_the_policy_models_as_json_schema():
    result = CliRunner().invoke(main, ["policy", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == {"channels", "models"}
    model = schema["$defs"]["ModelPolicy"]
    # Keys as written in YAML (the alias), and unknown keys refused as policy check does.
    assert "register" in model["properties"] and "register_mode" not in model["properties"]
    assert model["properties"]["register"]["enum"] == ["always", "passing"]
    assert model["additionalProperties"] is False
    assert schema["$defs"]["ChampionGate"]["additionalProperties"] is False
