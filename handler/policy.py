"""The policy file (docs/policy.md): YAML validated with pydantic, secrets from ``${VAR}``.

:func:`load_policy` returns a :class:`PolicyFile`; :func:`check_policy`
returns every error with its path (``models.0.gates.metrics.recall.min``)
for ``reghook policy check``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from handler.channels import ChannelConfig, default_channels
from handler.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Names that end up inside MLflow filter strings or tag keys must be plain.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.\-/ ]+$")


# A Unity Catalog model name: catalog.schema.model, no empty part, no quotes or spaces.
UC_NAME = re.compile(r"^[^.\s'`]+\.[^.\s'`]+\.[^.\s'`]+$")

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricGate(_Strict):
    """Bounds for one run metric."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> MetricGate:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


class ChampionGate(_Strict):
    """Compare a metric with the version holding ``alias``."""

    alias: str = "champion"
    metric: str
    max_regression: float = 0.0


class Gates(_Strict):
    """The gates of one model (docs/policy.md#gates)."""

    metrics: dict[str, MetricGate] = Field(default_factory=dict)
    champion: ChampionGate | None = None
    signature: Literal["match_champion", "off"] = "off"
    dataset: Literal["match_champion", "off"] = "off"
    required_tags: list[str] = Field(default_factory=list)


class OnPass(_Strict):
    """What a passing version gets."""

    aliases: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)


class OnFail(_Strict):
    """What a failing version gets (aliases are unusual, but allowed)."""

    aliases: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)


class Promotion(_Strict):
    """The protected alias and how it may move."""

    alias: str = "champion"
    approval_tag: str = "approval"
    guard: Literal["revert", "alert"] = "revert"
    # Four eyes: an approval by the run's author (its mlflow.user tag) is refused.
    require_distinct_approver: bool = False


class Deprecation(_Strict):
    """When superseded champions are deprecated (docs/policy.md#deprecation)."""

    # The most recent holders of the protected alias kept, the current one included.
    keep_champions: int = Field(3, ge=1)
    # Days a version must have been off the protected alias before it is deprecated.
    after_days: float = Field(30, ge=0)


class ModelPolicy(_Strict):
    """The governance policy of one registered model."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    experiment: str | None = None
    artifact_path: str = "model"
    # "register" would shadow ABCMeta.register on the model class: aliased.
    register_mode: Literal["always", "passing"] = Field("always", alias="register")
    gates: Gates = Field(default_factory=Gates)
    on_pass: OnPass = Field(default_factory=OnPass)
    on_fail: OnFail = Field(default_factory=OnFail)
    promotion: Promotion | None = None
    deprecation: Deprecation | None = None
    notify: list[str] = Field(default_factory=list)

    @field_validator("artifact_path")
    @classmethod
    def _plain_path(cls, value: str) -> str:
        if not _SAFE_NAME.match(value):
            raise ValueError("use letters, digits, '_', '-', '.', '/' only")
        return value

    @model_validator(mode="after")
    def _deprecation_needs_promotion(self) -> ModelPolicy:
        if self.deprecation is not None and self.promotion is None:
            raise ValueError("deprecation counts holders of the protected alias: "
                             "give promotion too")
        return self

    @property
    def protected_alias(self) -> str | None:
        """The alias only approved, passing versions may hold."""
        return self.promotion.alias if self.promotion else None


class PolicyFile(_Strict):
    """The whole policy file."""

    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    models: list[ModelPolicy] = Field(default_factory=list)

    def reference_errors(self) -> list[str]:
        """Cross-field errors (duplicate names, unknown channels), each with its path."""
        errors, seen = [], set()
        for index, model in enumerate(self.models):
            if model.name in seen:
                errors.append(f"models.{index}.name: model {model.name!r} is defined twice")
            seen.add(model.name)
            errors += [f"models.{index}.notify.{n}: unknown channel {channel!r}"
                       for n, channel in enumerate(model.notify)
                       if channel not in self.effective_channels]
        return errors

    def unity_catalog_errors(self) -> list[str]:
        """What Unity Catalog refuses: every model name must be ``catalog.schema.model``.

        (The policy has no stage settings; Unity Catalog has no stages, only aliases.)
        """
        return [f"models.{index}.name: {model.name!r} is not a Unity Catalog name: "
                "use three parts, catalog.schema.model"
                for index, model in enumerate(self.models) if not UC_NAME.match(model.name)]

    @property
    def effective_channels(self) -> dict[str, ChannelConfig]:
        """The configured channels, or the default ``log`` channel when none are."""
        return self.channels or default_channels()

    def channels_for(self, policy: ModelPolicy) -> list[str]:
        """Channel names a model's outcomes go to (all channels if it names none)."""
        return policy.notify or list(self.effective_channels)

    def for_model(self, name: str) -> ModelPolicy | None:
        """The policy of a registered model, by exact name."""
        return next((m for m in self.models if m.name == name), None)

    def for_experiment(self, experiment: str) -> ModelPolicy | None:
        """The policy whose ``experiment`` is this experiment name (or id)."""
        return next((m for m in self.models if m.experiment == experiment), None)


# Only these channel fields may name an environment variable (docs/policy.md,
# "Environment variables"): a reference anywhere else could copy any secret of
# the worker's environment into the registry or a message.
_SECRET_FIELDS = ("url", "secret")


def _is_secret_field(path: tuple[str, ...]) -> bool:
    return len(path) == 3 and path[0] == "channels" and path[2] in _SECRET_FIELDS


def expand_secrets(raw: Any, env: dict[str, str] | None = None) -> tuple[Any, list[str]]:
    """Expand ``${VAR}`` in a parsed policy where a secret belongs; return it and the errors.

    Only a channel's ``url`` and ``secret`` may be a reference, and only as the
    whole value. A reference anywhere else is an error at its path, and is left
    as it is written. Errors name the path and the variable, never a value.
    """
    env = dict(os.environ) if env is None else env
    errors: list[str] = []

    def expand(node: Any, path: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            errors.extend(f"{_dotted((*path, key))}: {found.group(0)} is not expanded in a key"
                          for key in node if (found := _VAR.search(str(key))))
            return {key: expand(value, (*path, str(key))) for key, value in node.items()}
        if isinstance(node, list):
            return [expand(item, (*path, str(index))) for index, item in enumerate(node)]
        if isinstance(node, str) and (found := _VAR.search(node)):
            return expand_reference(node, found, path)
        return node

    def expand_reference(value: str, found: re.Match[str], path: tuple[str, ...]) -> str:
        where = _dotted(path)
        if not _is_secret_field(path):
            errors.append(f"{where}: {found.group(0)} is not expanded here: only a channel's "
                          "url and secret may refer to an environment variable")
            return value
        whole = _VAR.fullmatch(value)
        if whole is None:
            errors.append(f"{where}: {found.group(0)} must be the whole value")
            return value
        if whole.group(1) not in env:
            errors.append(f"{where}: environment variable {whole.group(1)} is not set")
            return value
        return env[whole.group(1)]

    return expand(raw, ()), errors


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path) or "(root)"


def _errors_with_paths(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
        for err in exc.errors(include_url=False, include_input=False)
    ]


def check_policy(path: str | Path, env: dict[str, str] | None = None, *,
                 unity_catalog: bool = False) -> tuple[PolicyFile | None, list[str]]:
    """Load and validate a policy file; return it (or None) and every error with its path.

    ``unity_catalog``: the governed registry is Unity Catalog, whose names have three parts.
    """
    path = Path(path)
    if not path.exists():
        return None, [f"{path}: no such file"]
    # Parse first, then expand: a value from the environment is one string and
    # can neither change the structure nor appear in a YAML error.
    try:
        parsed: Any = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        return None, [f"{path}: not valid YAML: {exc}"]
    if not isinstance(parsed, dict):
        return None, ["(root): the policy must be a mapping with 'models' and 'channels'"]
    raw, errors = expand_secrets(parsed, env)
    try:
        policy = PolicyFile.model_validate(raw)
    except ValidationError as exc:
        return None, [*errors, *_errors_with_paths(exc)]
    errors += policy.reference_errors()
    if unity_catalog:
        errors += policy.unity_catalog_errors()
    return (policy if not errors else None), errors


def load_policy(path: str | Path, env: dict[str, str] | None = None, *,
                unity_catalog: bool = False) -> PolicyFile:
    """Load a valid policy or raise :class:`ConfigError` listing every error."""
    policy, errors = check_policy(path, env, unity_catalog=unity_catalog)
    if policy is None:
        raise ConfigError(f"invalid policy {path}:\n  " + "\n  ".join(errors))
    return policy
