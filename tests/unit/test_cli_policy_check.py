"""``reghook policy check`` knows which registry it checks for (docs/cli.md)."""

from __future__ import annotations

from click.testing import CliRunner

from handler.cli import main


def check(tmp_path, monkeypatch, name: str, registry: str | None):
    path = tmp_path / "reghook.yaml"
    path.write_text(f"models:\n  - name: {name}\n")
    if registry:
        monkeypatch.setenv("MLFLOW_REGISTRY_URI", registry)
    else:
        monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return CliRunner().invoke(main, ["policy", "check", str(path)])


def test_a_two_part_name_is_refused_when_the_registry_is_unity_catalog(tmp_path, monkeypatch):
    result = check(tmp_path, monkeypatch, "default.churn", "databricks-uc")
    assert result.exit_code == 2
    assert "models.0.name: 'default.churn' is not a Unity Catalog name" in result.output


def test_the_same_name_is_fine_on_an_mlflow_server(tmp_path, monkeypatch):
    assert check(tmp_path, monkeypatch, "default.churn", None).exit_code == 0


def test_the_seed_model_passes_on_unity_catalog(tmp_path, monkeypatch):
    result = check(tmp_path, monkeypatch, "workspace.default.quickbite_churn_predictor",
                   "databricks-uc")
    assert result.exit_code == 0, result.output
