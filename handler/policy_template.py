"""The starter policy of ``reghook policy init`` and the policy's JSON Schema.

The starter is docs/reghook.example.yaml (a test keeps the two equal); the
schema is pydantic's, from the same models :mod:`handler.policy` validates
with, so editors and CI can check a file without reghook.
"""

from __future__ import annotations

from typing import Any

from handler.policy import PolicyFile

# Kept in the package (docs/ is not installed) and equal to docs/reghook.example.yaml.
STARTER_POLICY = '''\
# reghook policy: which registered models reghook governs, and how.
# Reference: docs/policy.md. Check a change with: reghook policy check FILE
# The worker reads this file once, at start: restart it after a change.
# Written by `reghook policy init`; JSON Schema: `reghook policy schema`.

# Where notifications go. With no channel at all, one `log` channel is used
# (a JSON line per notification on the worker's stdout).
channels:
  log:
    type: log
  # A Slack incoming webhook. Keep its URL out of this file: a channel's url
  # and secret may be read from an environment variable, written as the whole
  # value (docs/policy.md, "Environment variables"). Uncomment, set
  # SLACK_WEBHOOK_URL in the worker's environment, and list `team` in notify.
  # team:
  #   type: slack
  #   url: "${SLACK_WEBHOOK_URL}"

models:
  # One entry per governed registered model; the name is matched exactly
  # (on Unity Catalog: catalog.schema.model).
  - name: churn
    # The experiment whose finished runs produce this model: picks the policy
    # for a run.finished that names no model, for `reghook sweep` and for
    # Databricks job notifications.
    experiment: /Shared/churn
    # The name the model was logged under in the run (log_model(name=...)).
    artifact_path: model
    # always: register every finished run, tagged with its verdict.
    # passing: evaluate the gates first; a failing run is not registered.
    register: always

    # What a version must satisfy; every gate must pass for `passed`.
    gates:
      metrics:
        recall: {min: 0.70}          # recall is checked first
        precision: {min: 0.15}
      # No worse than the version holding `champion` (passes when none does).
      champion: {alias: champion, metric: recall, max_regression: 0.02}
      signature: match_champion      # same input/output signature as the champion
      dataset: match_champion        # trained on the same dataset as the champion
      required_tags: [git_commit]    # run tags that must be present

    # What a passing / failing version gets, besides reghook.* tags.
    on_pass:
      aliases: [staging]
    on_fail:
      tags: {deployment_mode: blocked}

    # The protected alias: only an approved, passing version may hold it.
    # Approve by setting the version tag approval=approved (or `reghook promote`).
    # guard: revert puts back a by-hand move; alert only tells the team.
    promotion:
      alias: champion
      approval_tag: approval
      guard: revert

    # Channels told about this model (default: all of them).
    notify: [log]
'''


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file (keys as written in YAML, e.g. ``register``)."""
    schema = PolicyFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "reghook policy file"
    return schema
