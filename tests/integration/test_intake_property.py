"""Property: whatever a caller sends to an inbound route, reghook never answers 5xx.

Arbitrary header values and bodies, sometimes correctly signed so that the
parsing and storing paths behind authentication are explored too. For every
request: no 5xx, a JSON ``{"error": ...}`` body on 4xx, and nothing stored
unless the request was authentic (docs/routes.md).
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from handler.store import Store
from handler.web import create_app
from tests.conftest import EVENTS_SECRET, MLFLOW_SECRET
from tests.support.web import basic_auth, databricks_delivery, mlflow_delivery, standard_delivery

ROUTES = ["/webhooks/mlflow", "/webhooks/databricks", "/webhooks/databricks-jobs", "/events"]
HEADER_NAMES = [
    "Content-Type", "X-MLflow-Signature", "X-MLflow-Timestamp", "X-MLflow-Delivery-Id",
    "X-Databricks-Signature", "Authorization", "webhook-id", "webhook-timestamp",
    "webhook-signature",
]

# Header values as WSGI hands them over: latin-1 text without line breaks.
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60
)
header_values = st.one_of(
    header_text,
    st.sampled_from(["", "v1,", "v1,a,b", "v1,!!!", "garbage", "v1,AAAA v2,BBBB", "1" * 400,
                     "-1", "0", str(int(time.time())), "Basic !!!", "Basic amobnM6",
                     "Bearer x", "application/json", "application/json; charset=latin-1",
                     "application/cloudevents+json", "text/plain", "multipart/form-data"]),
    st.integers().map(str),
    # Numbers no clock arithmetic expects.
    st.sampled_from(["1" * 400, "-" + "9" * 400, "9" * 20, "1e400", "١٢٣", "1_614_265_330"]),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)
# Strings that may hold lone UTF-16 surrogates (json.dumps writes them as \\udXXX).
surrogate_text = st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
                         | st.characters(max_codepoint=0x7F), max_size=8)
ids = st.one_of(st.text(max_size=20), st.integers(), st.none(), st.just(""),
                st.text(min_size=190, max_size=260), surrogate_text)
shaped_payloads = st.one_of(
    st.fixed_dictionaries({
        "entity": st.sampled_from(["model_version", "model_version_alias", "model_version_tag",
                                   "registered_model", "prompt"]) | st.text(max_size=10),
        "action": st.sampled_from(["created", "set", "deleted"]) | st.text(max_size=10),
        "data": st.dictionaries(st.sampled_from(["name", "version", "alias", "key", "value",
                                                 "run_id", "tags", "source"]),
                                json_values | ids, max_size=6) | json_values,
    }),
    st.fixed_dictionaries({
        "event": st.sampled_from(["MODEL_VERSION_CREATED", "TRANSITION_REQUEST_TO_STAGING_CREATED",
                                  "REGISTERED_MODEL_CREATED", "X"]) | st.text(max_size=10),
        "event_timestamp": st.one_of(st.just(int(time.time() * 1000)), st.integers(),
                                     st.just(10**400), json_values),
        "model_name": ids, "version": ids, "webhook_id": ids,
    }),
    st.fixed_dictionaries({
        "event_type": st.sampled_from(["jobs.on_success", "jobs.on_failure", "jobs.on_start"])
        | st.text(max_size=10),
        "run": st.fixed_dictionaries({"run_id": ids}) | json_values,
        "job": st.fixed_dictionaries({"job_id": ids}) | json_values,
    }),
    st.fixed_dictionaries({
        "type": st.sampled_from(["run.finished", "deploy.started"]) | st.text(max_size=300),
        "run_id": ids, "model": ids,
    }),
)


def nested_under(payload: dict, depth: int, bracket: str) -> bytes:
    """``payload`` with one more field nested ``depth`` deep (as text: json.dumps recurses)."""
    close = {"[": "]", '{"k":': "}"}[bracket]
    return (json.dumps(payload)[:-1] + f', "deep": {bracket * depth}0{close * depth}}}').encode()


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    shaped_payloads.map(lambda v: json.dumps(v).encode()),
    # Python's own parser and validators recurse: past ~1000 levels that was a 503.
    st.builds(nested_under, shaped_payloads,
              st.sampled_from([64, 65, 1000, 5000]) | st.integers(min_value=1, max_value=200),
              st.sampled_from(["[", '{"k":'])),
    st.builds(lambda v, odd: json.dumps({**v, "note": odd}).encode(), shaped_payloads,
              surrogate_text),
)


def sign(route: str, body: bytes, msg_id: str) -> dict[str, str]:
    """Authentic headers for ``body`` on ``route`` (the id is the sender's, may be odd)."""
    if route == "/webhooks/mlflow":
        return mlflow_delivery(MLFLOW_SECRET, body, delivery_id=msg_id)[1]
    if route == "/events":
        return standard_delivery(EVENTS_SECRET, body, msg_id=msg_id)[1]
    if route == "/webhooks/databricks":
        return databricks_delivery("dbx-secret", body)[1]
    return {"Content-Type": "application/json",
            "Authorization": basic_auth("jobs", "jobs-password")}


AUTH_HEADERS = {
    "/webhooks/mlflow": ("X-MLflow-Signature", "X-MLflow-Timestamp", "X-MLflow-Delivery-Id"),
    "/events": ("webhook-signature", "webhook-timestamp", "webhook-id"),
    "/webhooks/databricks": ("X-Databricks-Signature",),
    "/webhooks/databricks-jobs": ("Authorization",),
}


def build_headers(route: str, generated: dict[str, str], body: bytes, mode: str,
                  msg_id: str) -> tuple[dict[str, str], bool]:
    """The request headers and whether the request is authentic.

    ``raw``: only the generated headers. ``signed``: authentic headers win.
    ``tampered``: authentic headers, then the generated ones over them, so
    one bad value sits among otherwise valid ones.
    """
    if mode == "raw":
        return generated, False
    authentic = sign(route, body, msg_id)
    if mode == "signed":
        return {**generated, **authentic}, True
    headers = {**authentic, **generated}
    unchanged = all(headers.get(name) == authentic.get(name) for name in AUTH_HEADERS[route])
    return headers, unchanged


def check_one(client, store: Store, route: str, generated: dict[str, str], body: bytes,
              mode: str, msg_id: str) -> None:
    headers, authentic = build_headers(route, generated, body, mode, msg_id)
    before = store.count_events()
    response = client.post(route, data=body, headers=headers)
    after = store.count_events()
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.is_json
        assert isinstance(response.get_json().get("error"), str)
    if authentic:
        assert after - before in (0, 1)
        if response.status_code in (202, 422):
            assert store.get_event(response.get_json()["event_id"]) is not None
    else:
        assert after == before, f"unauthenticated request stored: {response.get_json()}"


msg_ids = st.one_of(st.uuids().map(str), header_text.filter(lambda s: s.strip()),
                   st.text(alphabet="m", min_size=190, max_size=260))
modes = st.sampled_from(["raw", "signed", "tampered"])


def draw_request(data: st.DataObject, route: str) -> tuple[dict[str, str], bytes, str, str]:
    """Generated headers, body, mode and message id for one request to ``route``."""
    mode = data.draw(modes, label="mode")
    # Tampering aims at the headers that matter on this route.
    names = HEADER_NAMES if mode == "raw" else [*AUTH_HEADERS[route], "Content-Type"]
    generated = data.draw(st.dictionaries(st.sampled_from(names), header_values, max_size=4),
                          label="generated")
    return generated, data.draw(bodies, label="body"), mode, data.draw(msg_ids, label="msg_id")


@pytest.mark.parametrize("route", ROUTES)
@hypothesis_settings(max_examples=100, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_inbound_routes_never_answer_5xx_and_store_only_authentic_requests(
        client, store, route, data):
    check_one(client, store, route, *draw_request(data, route))


@pytest.mark.postgres
@hypothesis_settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_inbound_routes_never_answer_5xx_on_postgresql(settings, postgres_url, data):
    # PostgreSQL is stricter than SQLite (NUL bytes, column lengths): probe it too.
    route = data.draw(st.sampled_from(ROUTES), label="route")
    store = Store.from_url(postgres_url)
    try:
        client = create_app(settings, store).test_client()
        check_one(client, store, route, *draw_request(data, route))
    finally:
        store.dispose()
