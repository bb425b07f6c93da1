"""Typed configuration: the only module that reads the environment.

Every setting is ``REGHOOK_<NAME>`` (docs/configuration.md). Lists of secrets
are comma-separated so a secret can be rotated by configuring old and new
side by side.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from handler.signatures import standard_secret_problem


def _split(value: SecretStr | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(part.strip() for part in value.get_secret_value().split(",") if part.strip())


class Settings(BaseSettings):
    """reghook's settings, read from ``REGHOOK_*`` environment variables."""

    # Errors never repeat the values given: most of them are secrets.
    model_config = SettingsConfigDict(env_prefix="REGHOOK_", extra="ignore", populate_by_name=True,
                                      hide_input_in_errors=True)

    database_url: str = "sqlite:///reghook.db"
    policy: str = "./reghook.yaml"

    mlflow_secrets: SecretStr | None = None
    databricks_secrets: SecretStr | None = None
    databricks_authorization: SecretStr | None = None
    databricks_jobs_user: str | None = None
    databricks_jobs_password: SecretStr | None = None
    events_secrets: SecretStr | None = None

    timestamp_tolerance_s: int = 300
    databricks_max_age_s: int = 300
    max_body_bytes: int = 1024 * 1024

    admin_token: SecretStr | None = None
    # The reverse proxy whose headers reghook may believe (docs/configuration.md).
    trusted_proxy: Literal["databricks-apps"] | None = None

    max_attempts: int = 8
    lease_s: int = 300
    backoff_base_s: float = 2.0
    backoff_max_s: float = 600.0
    poll_interval_s: float = 1.0
    ready_timeout_s: float = 300.0

    mlflow_ui_url: str | None = None
    worker_id: str | None = None
    # A worker's own /metrics, /healthz, /readyz (docs/configuration.md): unset → not served.
    worker_port: int | None = None
    worker_host: str = "0.0.0.0"  # a pod's probes and scrapes come from outside it
    log_level: str = "INFO"

    # MLflow's own variables, read as they are: they decide which registry is governed.
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "mlflow_tracking_uri"))
    mlflow_registry_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MLFLOW_REGISTRY_URI", "mlflow_registry_uri"))
    # The registry watch (docs/processing.md): seconds between looks; unset → 60 on
    # Unity Catalog (which sends no registry webhooks), off elsewhere; 0 → off.
    watch_interval_s: float | None = None

    @field_validator("mlflow_secrets", "databricks_secrets", "databricks_authorization",
                     "databricks_jobs_password", "events_secrets", "admin_token", "trusted_proxy",
                     mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # An empty variable (a Secret left blank) must disable, never open:
        # an empty admin token would otherwise accept "Authorization: Bearer".
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("events_secrets")
    @classmethod
    def _usable_standard_secrets(cls, value: SecretStr | None) -> SecretStr | None:
        # Refused at start-up, not at the first delivery: "whsec_" alone (an
        # unset template variable) would be an empty HMAC key anyone can use.
        for position, secret in enumerate(_split(value), start=1):
            problem = standard_secret_problem(secret)
            if problem:
                raise ValueError(f"REGHOOK_EVENTS_SECRETS secret #{position}: {problem}; "
                                 "expected whsec_<base64>")
        return value

    @property
    def unity_catalog(self) -> bool:
        """Whether the governed registry is Unity Catalog (MLflow's rule: explicit
        ``databricks-uc``, or the default registry of a ``databricks`` tracking URI)."""
        registry = self.mlflow_registry_uri
        if registry:
            return registry.startswith("databricks-uc")
        tracking = self.mlflow_tracking_uri or ""
        return tracking == "databricks" or tracking.startswith("databricks://")

    @property
    def watch_every_s(self) -> float:
        """Seconds between looks of the registry watch (0: off)."""
        if self.watch_interval_s is not None:
            return max(0.0, self.watch_interval_s)
        return 60.0 if self.unity_catalog else 0.0

    @property
    def mlflow_secret_list(self) -> tuple[str, ...]:
        """Secrets accepted on ``/webhooks/mlflow`` (any one verifies)."""
        return _split(self.mlflow_secrets)

    @property
    def databricks_secret_list(self) -> tuple[str, ...]:
        """Secrets accepted on ``/webhooks/databricks``."""
        return _split(self.databricks_secrets)

    @property
    def events_secret_list(self) -> tuple[str, ...]:
        """``whsec_`` secrets accepted on ``/events``."""
        return _split(self.events_secrets)

    @property
    def databricks_jobs_enabled(self) -> bool:
        """Whether ``/webhooks/databricks-jobs`` has credentials configured."""
        return bool(self.databricks_jobs_user and self.databricks_jobs_password)
