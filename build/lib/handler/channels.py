"""Channel configuration: the policy file's ``channels:`` section (docs/policy.md). Pure."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator


class ChannelConfig(BaseModel):
    """One named channel. URLs and secrets are secrets: never logged or shown."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["slack", "teams", "webhook", "log"]
    url: SecretStr | None = None
    secret: SecretStr | None = None

    @model_validator(mode="after")
    def _needs_url(self) -> ChannelConfig:
        if self.type != "log" and not (self.url and self.url.get_secret_value()):
            raise ValueError(f"a {self.type} channel needs a url")
        if self.type == "webhook" and not (self.secret and self.secret.get_secret_value()):
            raise ValueError("a webhook channel needs a secret (whsec_<base64>)")
        return self


DEFAULT_CHANNEL = "log"


def default_channels() -> dict[str, ChannelConfig]:
    """No channel configured → one ``log`` channel (docs/policy.md)."""
    return {DEFAULT_CHANNEL: ChannelConfig(type="log")}
