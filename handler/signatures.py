"""Verify and sign webhook deliveries: pure functions, no I/O.

Every verifier takes the raw body bytes, the header values, the configured
secrets and ``now`` (unix seconds), and either returns or raises an
:class:`~handler.errors.IntakeError`. Comparisons are constant-time. Any
malformed header (bad base64, wrong encoding, garbage) is an authentication
failure, never an unexpected exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

from handler.errors import InvalidSignature, MissingSignature, StaleTimestamp, Unauthorized


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _check_timestamp(raw: str, now: float, tolerance_s: int) -> int:
    raw = raw.strip()
    # Plain ASCII digits only: int() would also take "1_000", "+5" or Arabic
    # digits, and a 400-digit value overflows the float arithmetic below.
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 15:
        raise InvalidSignature("The timestamp header is not an integer of unix seconds.")
    timestamp = int(raw)
    if abs(now - timestamp) > tolerance_s:
        raise StaleTimestamp(
            f"The timestamp is {int(now - timestamp)} s away from now; the tolerance is {tolerance_s} s."
        )
    return timestamp


def _decode_v1_signatures(header: str) -> list[bytes]:
    """The decoded ``v1,<base64>`` entries of a space-separated signature header."""
    decoded = []
    for entry in header.split():
        version, sep, value = entry.partition(",")
        if version != "v1" or not sep:
            continue  # unknown versions are skipped, as Standard Webhooks says
        try:
            decoded.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    return decoded


# --- MLflow -----------------------------------------------------------------


def sign_mlflow(secret: str, delivery_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-MLflow-Signature`` value MLflow sends for this delivery."""
    message = f"{delivery_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(_hmac_sha256(secret.encode(), message)).decode()


def verify_mlflow(
    body: bytes,
    *,
    delivery_id: str | None,
    timestamp: str | None,
    signature: str | None,
    secrets: Sequence[str],
    now: float,
    tolerance_s: int,
) -> None:
    """Verify an MLflow webhook delivery (docs/routes.md#mlflow-webhooks)."""
    if not delivery_id or not timestamp or not signature:
        raise MissingSignature(
            "X-MLflow-Delivery-Id, X-MLflow-Timestamp and X-MLflow-Signature are required."
        )
    _check_timestamp(timestamp, now, tolerance_s)
    candidates = _decode_v1_signatures(signature)
    if not candidates:
        raise InvalidSignature("X-MLflow-Signature is not of the form v1,<base64>.")
    message = f"{delivery_id}.{timestamp}.".encode() + body
    for secret in secrets:
        expected = _hmac_sha256(secret.encode(), message)
        if any(hmac.compare_digest(expected, given) for given in candidates):
            return
    raise InvalidSignature()


# --- Databricks Workspace Model Registry -------------------------------------


def sign_databricks(secret: str, body: bytes) -> str:
    """The ``X-Databricks-Signature`` value: hex HMAC-SHA256 of the body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_databricks(
    body: bytes,
    *,
    signature: str | None,
    authorization: str | None,
    secrets: Sequence[str],
    expected_authorization: str | None,
) -> None:
    """Verify a Databricks registry webhook delivery (hex HMAC of the raw body).

    The configured ``Authorization`` value is a credential, not a signature:
    a wrong or missing one is :class:`Unauthorized`, checked first (docs/routes.md).
    """
    if expected_authorization is not None and not hmac.compare_digest(
        (authorization or "").encode(), expected_authorization.encode()
    ):
        raise Unauthorized("The Authorization header does not match the configured value.")
    if not signature:
        raise MissingSignature("X-Databricks-Signature is required.")
    given = signature.strip().lower().encode()
    for secret in secrets:
        if hmac.compare_digest(sign_databricks(secret, body).encode(), given):
            return
    raise InvalidSignature()


def verify_basic_auth(
    authorization: str | None, *, username: str, password: str
) -> None:
    """Check HTTP Basic credentials (Databricks job notifications are not signed)."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthorized("HTTP Basic credentials are required.")
    try:
        user, sep, given = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, ValueError):
        raise Unauthorized("The Basic credentials are malformed.") from None
    ok_user = hmac.compare_digest(user.encode(), username.encode())
    ok_password = hmac.compare_digest(given.encode(), password.encode())
    if not (sep and ok_user and ok_password):
        raise Unauthorized("Wrong username or password.")


# --- Standard Webhooks ---------------------------------------------------------


def standard_secret_problem(secret: str) -> str | None:
    """Why ``secret`` is not a usable ``whsec_<base64>`` key, or None when it is.

    Says what is wrong without repeating the secret. Configured secrets are
    checked at start-up (:mod:`handler.settings`): an empty key (``whsec_``
    from an unset template variable) is one anybody can sign with.
    """
    raw = secret.removeprefix("whsec_")
    if not raw:
        return "the key after whsec_ is empty"
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return "the key after whsec_ is not base64"
    return None if key else "the key after whsec_ decodes to nothing"


def _standard_key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        # Only reached for secrets nothing validated (a channel's): they fail
        # verification at the receiver instead of failing the process here.
        return raw.encode()


def sign_standard(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``webhook-signature`` value for a Standard Webhooks message."""
    message = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(_hmac_sha256(_standard_key(secret), message)).decode()


def verify_standard(
    body: bytes,
    *,
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    secrets: Sequence[str],
    now: float,
    tolerance_s: int,
) -> None:
    """Verify a Standard Webhooks message (any ``v1`` entry with any secret)."""
    if not msg_id or not timestamp or not signature:
        raise MissingSignature("webhook-id, webhook-timestamp and webhook-signature are required.")
    _check_timestamp(timestamp, now, tolerance_s)
    candidates = _decode_v1_signatures(signature)
    if not candidates:
        raise InvalidSignature("webhook-signature has no v1,<base64> entry.")
    message = f"{msg_id}.{timestamp}.".encode() + body
    for secret in secrets:
        expected = _hmac_sha256(_standard_key(secret), message)
        if any(hmac.compare_digest(expected, given) for given in candidates):
            return
    raise InvalidSignature()
