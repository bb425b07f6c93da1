"""The policy file (docs/policy.md): ``${VAR}`` interpolation, validation, and every error with its path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from handler.errors import ConfigError
from handler.policy import check_policy, load_policy

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


def test_a_channel_url_and_secret_are_read_from_the_environment(tmp_path):
    policy = load_policy(write(tmp_path, """
        channels:
          team: {type: slack, url: "${SLACK_URL}"}
          sink: {type: webhook, url: "${SINK_URL}", secret: "${SINK_SECRET}"}
    """), {"SLACK_URL": "https://hooks.slack.com/services/T0/B0/x",
           "SINK_URL": "https://sink.example/hook", "SINK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    team, sink = policy.channels["team"], policy.channels["sink"]
    assert team.url is not None and team.url.get_secret_value() == "https://hooks.slack.com/services/T0/B0/x"
    assert sink.secret is not None and sink.secret.get_secret_value().startswith("whsec_MfKQ")


def test_the_process_environment_is_used_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("REGHOOK_TEST_CHANNEL_URL", "https://example/hook")
    policy, errors = check_policy(write(tmp_path, """
        channels:
          team: {type: teams, url: "${REGHOOK_TEST_CHANNEL_URL}"}
    """))
    assert errors == []
    assert policy is not None and policy.channels["team"].url is not None
    assert policy.channels["team"].url.get_secret_value() == "https://example/hook"


def test_an_unset_variable_is_an_error_at_its_path(tmp_path):
    errors = errors_of(tmp_path, """
        channels:
          team: {type: slack, url: "${SLACK_WEBHOOK_URL}"}
    """)
    assert errors == ["channels.team.url: environment variable SLACK_WEBHOOK_URL is not set"]


@pytest.mark.parametrize(("yaml_text", "error"), [
    ('models:\n  - {name: churn, on_pass: {tags: {x: "${REGHOOK_ADMIN_TOKEN}"}}}\n',
     "models.0.on_pass.tags.x: ${REGHOOK_ADMIN_TOKEN} is not expanded here"),
    ("models:\n  - name: ${MODEL_NAME}x\n", "models.0.name: ${MODEL_NAME} is not expanded here"),
    ('models:\n  - {name: churn, on_fail: {tags: {"${REGHOOK_ADMIN_TOKEN}": x}}}\n',
     "models.0.on_fail.tags.${REGHOOK_ADMIN_TOKEN}: ${REGHOOK_ADMIN_TOKEN} is not expanded in a key"),
    ('channels:\n  team: {type: slack, url: "https://hooks.slack.com/${SLACK_PATH}"}\n',
     "channels.team.url: ${SLACK_PATH} must be the whole value"),
])
def test_a_reference_outside_a_channel_secret_is_refused_and_never_expanded(tmp_path, yaml_text, error):
    env = {"REGHOOK_ADMIN_TOKEN": "admin-token-value", "MODEL_NAME": "churn", "SLACK_PATH": "T0/B0/x"}
    errors = errors_of(tmp_path, yaml_text, env)
    assert len(errors) == 1 and errors[0].startswith(error)
    assert not any(value in errors[0] for value in env.values())


def test_a_value_with_newlines_stays_one_string_and_adds_no_key(tmp_path):
    injected = 'https://x\n    secret: planted\nmodels:\n  - name: planted'
    policy = load_policy(write(tmp_path, """
        channels:
          team: {type: slack, url: "${SLACK_WEBHOOK_URL}"}
    """), {"SLACK_WEBHOOK_URL": injected})
    assert policy.models == []
    assert policy.channels["team"].secret is None
    assert policy.channels["team"].url is not None
    assert policy.channels["team"].url.get_secret_value() == injected


def test_a_yaml_error_never_shows_an_environment_value(tmp_path):
    secret = "https://hooks.slack.com/services/T0/B0/s3cr3t-path"
    path = write(tmp_path, """
        channels:
          team:
            type: slack
            url: ${SLACK_WEBHOOK_URL}
        models: [
    """)
    policy, errors = check_policy(path, {"SLACK_WEBHOOK_URL": secret + ": x"})
    assert policy is None and len(errors) == 1 and "not valid YAML" in errors[0]
    assert "s3cr3t" not in errors[0]


def test_a_value_with_yaml_syntax_is_taken_as_it_is(tmp_path):
    value = "https://hooks.slack.com/services/T0/B0/x#frag: {a: b}"
    policy = load_policy(write(tmp_path, """
        channels:
          team:
            type: slack
            url: ${SLACK_WEBHOOK_URL}
    """), {"SLACK_WEBHOOK_URL": value})
    assert policy.channels["team"].url is not None
    assert policy.channels["team"].url.get_secret_value() == value


def test_references_in_comments_are_not_expanded_nor_required(tmp_path):
    policy, errors = check_policy(write(tmp_path, """
        # team:
        #   type: slack
        #   url: "${SLACK_WEBHOOK_URL}"
        models:
          - {name: churn}   # tags: {x: "${REGHOOK_ADMIN_TOKEN}"}
    """), {})
    assert errors == []
    assert policy is not None and [m.name for m in policy.models] == ["churn"]


def test_plain_dollars_are_left_alone(tmp_path):
    policy = load_policy(write(tmp_path, """
        models:
          - {name: churn, on_pass: {tags: {cost: "$HOME and ${not a name}"}}}
    """), {"HOME": "/root"})
    assert policy.models[0].on_pass.tags == {"cost": "$HOME and ${not a name}"}


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


def test_the_starters_slack_channel_loads_once_uncommented(tmp_path):
    from handler.policy_template import STARTER_POLICY

    uncommented = (STARTER_POLICY.replace("  # team:", "  team:").replace("  #   ", "    ")
                   .replace("notify: [log]", "notify: [log, team]"))
    policy = load_policy(write(tmp_path, uncommented), {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/x"})
    assert policy.channels["team"].type == "slack"
    assert policy.channels["team"].url is not None
    assert policy.channels["team"].url.get_secret_value() == "https://hooks.slack.com/x"
