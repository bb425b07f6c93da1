"""The policy file (docs/policy.md): ``${VAR}`` interpolation, validation, and every error with its path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from handler.errors import ConfigError
from handler.policy import check_policy, interpolate, load_policy

DOCS_EXAMPLE = """
channels:
  team:
    type: slack
    url: ${SLACK_WEBHOOK_URL}
  audit-sink:
    type: webhook
    url: ${AUDIT_WEBHOOK_URL}
    secret: ${AUDIT_WEBHOOK_SECRET}
models:
  - name: workspace.default.quickbite_churn_predictor
    experiment: /Shared/QuickBite_Churn_Prediction
    artifact_path: churn_pipeline_model
    register: always
    gates:
      metrics:
        recall: {min: 0.70}
        precision: {min: 0.15}
      champion:
        alias: champion
        metric: recall
        max_regression: 0.02
      signature: match_champion
      dataset: match_champion
      required_tags: [git_commit]
    on_pass:
      aliases: [staging]
      tags: {deployment_mode: batch_inference_only, known_limitation: extreme_class_imbalance}
    on_fail:
      tags: {deployment_mode: blocked}
    promotion:
      alias: champion
      approval_tag: approval
      guard: revert
    notify: [team]
"""
DOCS_ENV = {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/x",
            "AUDIT_WEBHOOK_URL": "https://audit.example/hook",
            "AUDIT_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reghook.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    policy, errors = check_policy(write(tmp_path, text), env or {})
    assert policy is None
    return errors


# --- interpolation ----------------------------------------------------------------------


def test_variables_are_replaced_from_the_environment():
    text, missing = interpolate("url: ${A}/${B_2}", {"A": "https://x", "B_2": "y"})
    assert (text, missing) == ("url: https://x/y", [])


def test_missing_variables_are_reported_and_plain_dollars_left_alone():
    text, missing = interpolate("a: ${NOPE} b: $HOME c: ${NOPE}", {"HOME": "/root"})
    assert text == "a:  b: $HOME c: "
    assert missing == ["NOPE", "NOPE"]


def test_the_process_environment_is_used_by_default(monkeypatch):
    monkeypatch.setenv("REGHOOK_TEST_CHANNEL_URL", "https://example/hook")
    assert interpolate("${REGHOOK_TEST_CHANNEL_URL}") == ("https://example/hook", [])


def test_an_unset_variable_makes_the_policy_invalid(tmp_path):
    errors = errors_of(tmp_path, """
        channels:
          team: {type: log}
        models:
          - name: ${MODEL_NAME}x
    """)
    assert errors == ["${MODEL_NAME}: environment variable is not set"]


# --- the docs example --------------------------------------------------------------------


def test_the_spec_example_loads(tmp_path):
    policy = load_policy(write(tmp_path, DOCS_EXAMPLE), DOCS_ENV)
    model = policy.for_model("workspace.default.quickbite_churn_predictor")
    assert model is not None
    assert model.register_mode == "always"
    assert list(model.gates.metrics) == ["recall", "precision"]
    assert model.gates.champion is not None and model.gates.champion.max_regression == 0.02
    assert model.on_pass.aliases == ["staging"]
    assert model.protected_alias == "champion"
    assert policy.channels["team"].url is not None
    assert policy.channels["team"].url.get_secret_value() == DOCS_ENV["SLACK_WEBHOOK_URL"]
    assert policy.channels_for(model) == ["team"]
    assert policy.for_experiment("/Shared/QuickBite_Churn_Prediction") is model
    assert policy.for_model("workspace.default.QUICKBITE_churn_predictor") is None  # exact names


def test_register_is_always_by_default_and_accepts_passing(tmp_path):
    policy = load_policy(write(tmp_path, """
        models:
          - {name: a}
          - {name: b, register: passing}
    """), {})
    assert [m.register_mode for m in policy.models] == ["always", "passing"]


def test_no_channels_means_the_log_channel(tmp_path):
    policy = load_policy(write(tmp_path, "models:\n  - {name: a, notify: [log]}\n"), {})
    model = policy.models[0]
    assert list(policy.effective_channels) == ["log"]
    assert policy.channels_for(model) == ["log"]


# --- errors, each with its path -------------------------------------------------------------


@pytest.mark.parametrize(("model_yaml", "error"), [
    ("{name: m, gates: {metrics: {recall: {}}}}",
     "models.0.gates.metrics.recall: Value error, give min, max or both"),
    ("{name: m, gates: {metrics: {recall: {min: high}}}}",
     "models.0.gates.metrics.recall.min: Input should be a valid number, "
     "unable to parse string as a number"),
    ("{name: m, gatez: {}}", "models.0.gatez: Extra inputs are not permitted"),
    ("{name: m, register: sometimes}", "models.0.register: Input should be 'always' or 'passing'"),
    ("{name: m, gates: {signature: always}}",
     "models.0.gates.signature: Input should be 'match_champion' or 'off'"),
    ("{name: m, gates: {champion: {alias: champion}}}", "models.0.gates.champion.metric: Field required"),
    ("{name: m, promotion: {guard: ignore}}",
     "models.0.promotion.guard: Input should be 'revert' or 'alert'"),
    ("{name: ''}", "models.0.name: String should have at least 1 character"),
    ("{name: m, artifact_path: \"x' OR name='y\"}",
     "models.0.artifact_path: Value error, use letters, digits, '_', '-', '.', '/' only"),
])
def test_each_error_names_its_path(tmp_path, model_yaml, error):
    assert errors_of(tmp_path, f"models:\n  - {model_yaml}\n") == [error]


def test_every_error_is_reported_not_only_the_first(tmp_path):
    errors = errors_of(tmp_path, """
        models:
          - {name: a, register: sometimes}
          - {name: b, gates: {metrics: {recall: {}}}}
    """)
    assert [e.split(":")[0] for e in errors] == ["models.0.register", "models.1.gates.metrics.recall"]


def test_channel_errors_name_the_channel(tmp_path):
    errors = errors_of(tmp_path, """
        channels:
          team: {type: slack}
          sink: {type: webhook, url: "https://x"}
          pager: {type: pigeon}
        models: []
    """)
    assert errors[:2] == ["channels.team: Value error, a slack channel needs a url",
                          "channels.sink: Value error, a webhook channel needs a secret (whsec_<base64>)"]
    assert errors[2].startswith("channels.pager.type: Input should be")


def test_unknown_channel_in_notify_is_an_error(tmp_path):
    errors = errors_of(tmp_path, """
        channels:
          team: {type: log}
        models:
          - {name: churn, notify: [team, oncall]}
    """)
    assert len(errors) == 1
    assert errors[0] == "models.0.notify.1: unknown channel 'oncall'"


def test_duplicate_model_names_are_an_error(tmp_path):
    errors = errors_of(tmp_path, """
        models:
          - {name: churn}
          - {name: other}
          - {name: churn}
    """)
    assert len(errors) == 1
    assert errors[0] == "models.2.name: model 'churn' is defined twice"


def test_cross_field_errors_name_the_offending_field(tmp_path):
    unknown = errors_of(tmp_path, "models:\n  - {name: churn, notify: [oncall]}\n")
    duplicate = errors_of(tmp_path, "models:\n  - {name: churn}\n  - {name: churn}\n")
    assert unknown[0].startswith("models.0.notify")
    assert duplicate[0].startswith("models.1.name")


@pytest.mark.parametrize(("text", "error"), [
    ("- just\n- a list\n", "(root): the policy must be a mapping with 'models' and 'channels'"),
    ("models: [\n", "not valid YAML"),
    ("models: 3\n", "models: Input should be a valid list"),
    ("modles: []\n", "modles: Extra inputs are not permitted"),
])
def test_malformed_files_are_errors_not_crashes(tmp_path, text, error):
    errors = errors_of(tmp_path, text)
    assert len(errors) == 1 and error in errors[0]


def test_a_missing_file_is_an_error(tmp_path):
    policy, errors = check_policy(tmp_path / "absent.yaml", {})
    assert policy is None
    assert errors == [f"{tmp_path / 'absent.yaml'}: no such file"]


def test_an_empty_file_is_an_empty_policy(tmp_path):
    policy, errors = check_policy(write(tmp_path, ""), {})
    assert errors == []
    assert policy is not None and policy.models == []


def test_load_policy_raises_config_error_listing_every_error(tmp_path):
    path = write(tmp_path, "models:\n  - {name: a, register: sometimes}\n  - {name: ''}\n")
    with pytest.raises(ConfigError) as raised:
        load_policy(path, {})
    message = str(raised.value)
    assert "models.0.register" in message and "models.1.name" in message


# --- Unity Catalog ------------------------------------------------------------------------


def test_a_two_part_name_is_refused_on_unity_catalog_with_its_path(tmp_path):
    path = write(tmp_path, "models:\n  - name: default.churn\n  - name: workspace.default.churn\n")
    policy, errors = check_policy(path, unity_catalog=True)
    assert policy is None
    assert errors == ["models.0.name: 'default.churn' is not a Unity Catalog name: "
                      "use three parts, catalog.schema.model"]


def test_three_part_names_pass_on_unity_catalog_and_any_name_elsewhere(tmp_path):
    path = write(tmp_path, "models:\n  - name: workspace.default.quickbite_churn_predictor\n")
    assert check_policy(path, unity_catalog=True)[1] == []
    assert check_policy(write(tmp_path, "models:\n  - name: churn\n"))[1] == []
