"""The exception tree of reghook.

Each class decides how it surfaces: intake errors carry the HTTP status and
the JSON ``error`` code of docs/routes.md; processing errors decide retry-vs-fail.

::

    ReghookError
    ├── IntakeError                 (answered as {"error": code, "detail": ...})
    │   ├── SourceDisabled          404
    │   ├── NotFound                404
    │   ├── MissingSignature        401
    │   ├── InvalidSignature        401
    │   ├── StaleTimestamp          401
    │   ├── Unauthorized            401
    │   ├── MalformedJson           400
    │   ├── BadRequest              400
    │   ├── BodyTooLarge            413
    │   ├── UnsupportedMediaType    415
    │   ├── InvalidPayload          422
    │   └── Conflict                409
    ├── ProcessingError
    │   ├── TransientError          (event goes back to the queue with backoff)
    │   └── PermanentError          (event is failed at once)
    └── ConfigError                 (CLI exit code 2)
"""

from __future__ import annotations

from typing import Any


class ReghookError(Exception):
    """Base of every error reghook raises on purpose."""


class IntakeError(ReghookError):
    """A caller sent something wrong; answered with a 4xx JSON error."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or (self.__doc__ or self.code).strip().splitlines()[0]
        self.extra = extra
        super().__init__(self.detail)

    def to_json(self) -> dict[str, Any]:
        """The JSON body answered to the caller."""
        return {"error": self.code, "detail": self.detail, **self.extra}


class SourceDisabled(IntakeError):
    """This source has no secret configured, so it accepts nothing."""

    status, code = 404, "source_disabled"


class NotFound(IntakeError):
    """No such resource."""

    status, code = 404, "not_found"


class MissingSignature(IntakeError):
    """The signature or timestamp header is missing."""

    status, code = 401, "missing_signature"


class InvalidSignature(IntakeError):
    """The signature does not match the body with any configured secret."""

    status, code = 401, "invalid_signature"


class StaleTimestamp(IntakeError):
    """The delivery timestamp is outside the accepted tolerance."""

    status, code = 401, "stale_timestamp"


class Unauthorized(IntakeError):
    """Missing or wrong credentials."""

    status, code = 401, "unauthorized"


class MalformedJson(IntakeError):
    """The body is not valid UTF-8 JSON."""

    status, code = 400, "malformed_json"


class BadRequest(IntakeError):
    """The request is malformed."""

    status, code = 400, "bad_request"


class BodyTooLarge(IntakeError):
    """The body exceeds the configured size limit."""

    status, code = 413, "body_too_large"


class UnsupportedMediaType(IntakeError):
    """The body must be sent as application/json."""

    status, code = 415, "unsupported_media_type"


class InvalidPayload(IntakeError):
    """The payload is authentic but not of the declared shape."""

    status, code = 422, "invalid_payload"


class Conflict(IntakeError):
    """The request conflicts with the current state."""

    status, code = 409, "conflict"


class ProcessingError(ReghookError):
    """Processing an event went wrong."""


class TransientError(ProcessingError):
    """Worth retrying later: a dependency is unreachable, busy or not ready yet."""


class PermanentError(ProcessingError):
    """Retrying cannot help; the event is failed with this reason."""


class ConfigError(ReghookError):
    """The configuration or policy file is invalid."""
