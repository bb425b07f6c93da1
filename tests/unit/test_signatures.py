"""Signature verification (docs/routes.md): published vectors, real captured deliveries, hostile headers.

The verifiers are pure: every test passes ``now`` and the secrets in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from handler import signatures
from handler.errors import (
    IntakeError,
    InvalidSignature,
    MissingSignature,
    StaleTimestamp,
    Unauthorized,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# The Standard Webhooks published reference vector.
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SW_SIGNATURE_ONE_CHAR_OFF = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="

MALFORMED_SIGNATURE_HEADERS = [
    "garbage",
    "v1,a,b",
    "v1,!!!",
    "v1,",
    "v1",
    ",",
    "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",  # padding missing
    "v1,\xff\xfe\xfd",  # non-UTF-8 bytes as WSGI hands them over (latin-1)
    "v1,\u00e9t\u00e9==",
    "v1," + "A" * 10_000,
]

MALFORMED_TIMESTAMPS = ["", " ", "abc", "1614265330.5", "0x10", "\xff", "1" * 400, "-" + "9" * 400]


def verify_standard(signature: str | None, *, body: bytes = SW_BODY,
                    timestamp: str | None = str(SW_TIMESTAMP), msg_id: str | None = SW_ID,
                    secrets: tuple[str, ...] = (SW_SECRET,), now: float = SW_TIMESTAMP) -> None:
    signatures.verify_standard(body, msg_id=msg_id, timestamp=timestamp, signature=signature,
                               secrets=secrets, now=now, tolerance_s=300)


def load_deliveries() -> list[dict]:
    lines = (FIXTURES / "mlflow_deliveries.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


DELIVERIES = load_deliveries()


def short_delivery_id(delivery: dict) -> str:
    return delivery["headers"]["X-Mlflow-Delivery-Id"][:8]


def verify_captured(delivery: dict, *, secrets: tuple[str, ...] | None = None,
                    now: float | None = None, body: bytes | None = None) -> None:
    headers = delivery["headers"]
    timestamp = headers["X-Mlflow-Timestamp"]
    signatures.verify_mlflow(
        delivery["body"].encode() if body is None else body,
        delivery_id=headers["X-Mlflow-Delivery-Id"], timestamp=timestamp,
        signature=headers["X-Mlflow-Signature"],
        secrets=(delivery["secret"],) if secrets is None else secrets,
        now=int(timestamp) if now is None else now, tolerance_s=300,
    )


# --- Standard Webhooks ----------------------------------------------------------------


def test_standard_reference_vector_verifies():
    verify_standard(SW_SIGNATURE)


def test_standard_reference_vector_with_one_character_changed_is_invalid():
    with pytest.raises(InvalidSignature):
        verify_standard(SW_SIGNATURE_ONE_CHAR_OFF)


def test_sign_standard_reproduces_the_reference_vector():
    assert signatures.sign_standard(SW_SECRET, SW_ID, SW_TIMESTAMP, SW_BODY) == SW_SIGNATURE


def test_standard_accepts_a_valid_signature_anywhere_in_a_space_separated_list():
    verify_standard(f"{SW_SIGNATURE_ONE_CHAR_OFF} {SW_SIGNATURE}")
    verify_standard(f"{SW_SIGNATURE} {SW_SIGNATURE_ONE_CHAR_OFF}")


def test_standard_skips_unknown_signature_versions():
    verify_standard(f"v2,c29tZXRoaW5n v1a,xyz {SW_SIGNATURE}")


def test_standard_with_only_unknown_versions_is_invalid():
    with pytest.raises(InvalidSignature):
        verify_standard("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")


def test_standard_list_of_wrong_signatures_is_invalid():
    with pytest.raises(InvalidSignature):
        verify_standard(f"{SW_SIGNATURE_ONE_CHAR_OFF} v1,AAAA v1,garbage!")


@pytest.mark.parametrize("header", MALFORMED_SIGNATURE_HEADERS)
def test_standard_malformed_signature_header_is_invalid_not_a_crash(header):
    with pytest.raises(InvalidSignature):
        verify_standard(header)


@pytest.mark.parametrize("missing", ["msg_id", "timestamp", "signature"])
def test_standard_missing_header_is_missing_signature(missing):
    kwargs: dict = {"msg_id": SW_ID, "timestamp": str(SW_TIMESTAMP)}
    signature: str | None = SW_SIGNATURE
    if missing == "signature":
        signature = None
    else:
        kwargs[missing] = None
    with pytest.raises(MissingSignature):
        verify_standard(signature, **kwargs)


@pytest.mark.parametrize("timestamp", MALFORMED_TIMESTAMPS)
def test_standard_malformed_timestamp_is_an_authentication_failure(timestamp):
    # ``now`` is a float, as time.time() gives it: huge integers must not overflow it.
    with pytest.raises(IntakeError) as caught:
        verify_standard(SW_SIGNATURE, timestamp=timestamp, now=SW_TIMESTAMP + 0.25)
    assert caught.value.status == 401


def test_standard_non_utf8_body_with_a_wrong_signature_is_invalid_not_a_crash():
    with pytest.raises(InvalidSignature):
        verify_standard(SW_SIGNATURE, body=b"\xff\xfe{\x80}")


def test_standard_tampered_body_is_invalid():
    with pytest.raises(InvalidSignature):
        verify_standard(SW_SIGNATURE, body=b'{"test": 2432232315}')


def test_standard_signature_does_not_verify_under_another_message_id():
    with pytest.raises(InvalidSignature):
        verify_standard(SW_SIGNATURE, msg_id="msg_other")


@pytest.mark.parametrize("offset", [301, -301, 86_400, -86_400])
def test_standard_timestamp_outside_tolerance_is_stale(offset):
    with pytest.raises(StaleTimestamp):
        verify_standard(SW_SIGNATURE, now=SW_TIMESTAMP + offset)


@pytest.mark.parametrize("offset", [300, -300, 0])
def test_standard_timestamp_at_the_tolerance_edge_verifies(offset):
    verify_standard(SW_SIGNATURE, now=SW_TIMESTAMP + offset)


def test_standard_any_one_of_several_secrets_verifies():
    other = "whsec_" + base64.b64encode(b"another key of thirty-two bytes!").decode()
    verify_standard(SW_SIGNATURE, secrets=(other, SW_SECRET))
    verify_standard(SW_SIGNATURE, secrets=(SW_SECRET, other))


def test_standard_wrong_secret_is_invalid():
    other = "whsec_" + base64.b64encode(b"another key of thirty-two bytes!").decode()
    with pytest.raises(InvalidSignature):
        verify_standard(SW_SIGNATURE, secrets=(other,))


def test_standard_with_no_secret_configured_is_invalid():
    with pytest.raises(InvalidSignature):
        verify_standard(SW_SIGNATURE, secrets=())


# --- MLflow: real captured deliveries -------------------------------------------------


def test_fixture_holds_real_deliveries_of_several_types():
    kinds = {(json.loads(d["body"])["entity"], json.loads(d["body"])["action"]) for d in DELIVERIES}
    assert len(DELIVERIES) >= 4
    assert ("model_version", "created") in kinds


@pytest.mark.parametrize("delivery", DELIVERIES, ids=short_delivery_id)
def test_captured_mlflow_delivery_verifies_with_a_frozen_clock(delivery):
    verify_captured(delivery)


@pytest.mark.parametrize("delivery", DELIVERIES, ids=short_delivery_id)
def test_sign_mlflow_reproduces_the_captured_signature(delivery):
    headers = delivery["headers"]
    assert signatures.sign_mlflow(
        delivery["secret"], headers["X-Mlflow-Delivery-Id"], headers["X-Mlflow-Timestamp"],
        delivery["body"].encode(),
    ) == headers["X-Mlflow-Signature"]


def test_captured_mlflow_delivery_with_a_wrong_secret_is_invalid():
    with pytest.raises(InvalidSignature):
        verify_captured(DELIVERIES[0], secrets=("not-the-secret",))


def test_captured_mlflow_delivery_verifies_with_the_secret_among_several():
    verify_captured(DELIVERIES[0], secrets=("old-secret", DELIVERIES[0]["secret"], "next"))


def test_mlflow_secret_is_raw_utf8_not_a_standard_webhooks_key():
    # A secret that happens to look like base64 must still be used as its UTF-8 bytes.
    secret = "c2VjcmV0"
    body = b'{"entity": "x", "action": "y", "data": {}}'
    digest = hmac.new(secret.encode(), b"id.100." + body, hashlib.sha256).digest()
    signatures.verify_mlflow(body, delivery_id="id", timestamp="100",
                             signature="v1," + base64.b64encode(digest).decode(),
                             secrets=(secret,), now=100, tolerance_s=300)


def test_captured_mlflow_delivery_later_than_tolerance_is_stale():
    timestamp = int(DELIVERIES[0]["headers"]["X-Mlflow-Timestamp"])
    with pytest.raises(StaleTimestamp):
        verify_captured(DELIVERIES[0], now=timestamp + 301)


def test_captured_mlflow_delivery_from_the_future_is_stale():
    timestamp = int(DELIVERIES[0]["headers"]["X-Mlflow-Timestamp"])
    with pytest.raises(StaleTimestamp):
        verify_captured(DELIVERIES[0], now=timestamp - 301)


def test_captured_mlflow_delivery_with_tampered_body_is_invalid():
    body = DELIVERIES[0]["body"].replace("quickbite", "quickbitf").encode()
    with pytest.raises(InvalidSignature):
        verify_captured(DELIVERIES[0], body=body)


def test_mlflow_signature_covers_the_delivery_id():
    delivery = DELIVERIES[0]
    headers = delivery["headers"]
    with pytest.raises(InvalidSignature):
        signatures.verify_mlflow(
            delivery["body"].encode(), delivery_id="another-delivery",
            timestamp=headers["X-Mlflow-Timestamp"], signature=headers["X-Mlflow-Signature"],
            secrets=("s3cret",), now=int(headers["X-Mlflow-Timestamp"]), tolerance_s=300)


def test_mlflow_obsolete_sha256_hex_format_is_invalid():
    delivery = DELIVERIES[0]
    headers = delivery["headers"]
    delivery_id, timestamp = headers["X-Mlflow-Delivery-Id"], headers["X-Mlflow-Timestamp"]
    message = f"{delivery_id}.{timestamp}.{delivery['body']}"
    hex_digest = hmac.new(b"s3cret", message.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(InvalidSignature):
        signatures.verify_mlflow(
            delivery["body"].encode(), delivery_id=headers["X-Mlflow-Delivery-Id"],
            timestamp=headers["X-Mlflow-Timestamp"], signature=f"sha256={hex_digest}",
            secrets=("s3cret",), now=int(headers["X-Mlflow-Timestamp"]), tolerance_s=300)


@pytest.mark.parametrize("header", MALFORMED_SIGNATURE_HEADERS)
def test_mlflow_malformed_signature_header_is_invalid_not_a_crash(header):
    with pytest.raises(InvalidSignature):
        signatures.verify_mlflow(b"{}", delivery_id="d", timestamp="100", signature=header,
                                 secrets=("s3cret",), now=100, tolerance_s=300)


@pytest.mark.parametrize("timestamp", MALFORMED_TIMESTAMPS)
def test_mlflow_malformed_timestamp_is_an_authentication_failure(timestamp):
    with pytest.raises(IntakeError) as caught:
        signatures.verify_mlflow(b"{}", delivery_id="d", timestamp=timestamp, signature="v1,AAAA",
                                 secrets=("s3cret",), now=100.25, tolerance_s=300)
    assert caught.value.status == 401


@pytest.mark.parametrize("missing", ["delivery_id", "timestamp", "signature"])
def test_mlflow_missing_header_is_missing_signature(missing):
    kwargs = {"delivery_id": "d", "timestamp": "100", "signature": "v1,AAAA", missing: None}
    with pytest.raises(MissingSignature):
        signatures.verify_mlflow(b"{}", secrets=("s3cret",), now=100, tolerance_s=300, **kwargs)


# --- Databricks registry --------------------------------------------------------------

DBX_BODY = json.dumps({"event": "MODEL_VERSION_CREATED", "webhook_id": "w",
                       "event_timestamp": 1589859029343, "model_name": "m",
                       "version": "8"}).encode()


def dbx_signature(secret: str, body: bytes = DBX_BODY) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_databricks(signature: str | None, *, authorization: str | None = None,
                      expected_authorization: str | None = None,
                      secrets: tuple[str, ...] = ("dbx-secret",), body: bytes = DBX_BODY) -> None:
    signatures.verify_databricks(body, signature=signature, authorization=authorization,
                                 secrets=secrets, expected_authorization=expected_authorization)


def test_databricks_hex_signature_verifies():
    verify_databricks(dbx_signature("dbx-secret"))


def test_databricks_uppercase_hex_signature_verifies():
    verify_databricks(dbx_signature("dbx-secret").upper())


def test_sign_databricks_is_hex_hmac_of_the_raw_body():
    assert signatures.sign_databricks("dbx-secret", DBX_BODY) == dbx_signature("dbx-secret")


def test_databricks_signature_with_a_wrong_secret_is_invalid():
    with pytest.raises(InvalidSignature):
        verify_databricks(dbx_signature("other"))


def test_databricks_tampered_body_is_invalid():
    with pytest.raises(InvalidSignature):
        verify_databricks(dbx_signature("dbx-secret"), body=DBX_BODY.replace(b'"8"', b'"9"'))


def test_databricks_any_one_of_several_secrets_verifies():
    verify_databricks(dbx_signature("new"), secrets=("old", "new"))


@pytest.mark.parametrize("header", ["garbage", "zz" * 32, "\xff" * 64, "sha256=" + "0" * 64, " "])
def test_databricks_malformed_signature_is_invalid_not_a_crash(header):
    with pytest.raises(InvalidSignature):
        verify_databricks(header)


def test_databricks_missing_signature_is_missing_signature():
    with pytest.raises(MissingSignature):
        verify_databricks(None)


def test_databricks_configured_authorization_must_match():
    good = dbx_signature("dbx-secret")
    verify_databricks(good, authorization="Bearer abc", expected_authorization="Bearer abc")
    for given in (None, "", "Bearer abd", "Bearer abc ", "\xff"):
        with pytest.raises(Unauthorized):
            verify_databricks(good, authorization=given, expected_authorization="Bearer abc")


def test_databricks_authorization_is_ignored_when_not_configured():
    verify_databricks(dbx_signature("dbx-secret"), authorization="Bearer anything")


def test_databricks_right_authorization_does_not_excuse_a_wrong_signature():
    with pytest.raises(InvalidSignature):
        verify_databricks(dbx_signature("other"), authorization="Bearer abc",
                          expected_authorization="Bearer abc")


# --- HTTP Basic (Databricks job notifications) ----------------------------------------


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


def test_basic_auth_with_the_right_credentials_passes():
    signatures.verify_basic_auth(basic(b"jobs:pw"), username="jobs", password="pw")


def test_basic_auth_scheme_is_case_insensitive():
    signatures.verify_basic_auth("basic " + basic(b"jobs:pw").split()[1],
                                 username="jobs", password="pw")


def test_basic_auth_password_may_contain_a_colon():
    signatures.verify_basic_auth(basic(b"jobs:p:w"), username="jobs", password="p:w")


@pytest.mark.parametrize("header", [
    None, "", "Basic", "Basic ", "Bearer pw", basic(b"jobs:wrong"), basic(b"other:pw"),
    basic(b"jobs"), basic(b"jobspw"), basic(b"\xff\xfe:pw"), "Basic !!!", "Basic \xff\xfe",
    "Basic " + "A" * 5, basic(b":"),
])
def test_basic_auth_wrong_or_malformed_credentials_are_unauthorized(header):
    with pytest.raises(Unauthorized):
        signatures.verify_basic_auth(header, username="jobs", password="pw")
