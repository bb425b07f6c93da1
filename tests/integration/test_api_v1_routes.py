"""Every intake route is served again under ``/api/v1`` with the same checks and answers.

docs/routes.md: a Databricks App's proxy forwards only ``/api/`` paths to
callers holding a Databricks token, so ``/api/v1/events`` and friends must
behave exactly like ``/events`` and friends: one store, one idempotency key.
"""

from __future__ import annotations

import pytest

from handler.sources import SOURCES
from tests.integration.test_intake_routes import (
    AUTH_HEADERS,
    FORGED_CODE,
    MISSING_CODE,
    ROUTES,
    VALID_BODY,
    assert_error,
    changed,
    make_client,
    signed,
)


def test_every_source_is_served_at_its_path_and_under_api_v1(app):
    served = {rule.rule for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    for source in SOURCES.values():
        assert {source.path, f"/api/v1{source.path}"} <= served


@pytest.mark.parametrize("route", ROUTES)
def test_authentic_delivery_under_api_v1_is_queued_once_whichever_path_repeats_it(
        client, store, route):
    body, headers = signed(route, VALID_BODY[route]())
    first = client.post(f"/api/v1{route}", data=body, headers=headers)
    assert first.status_code == 202, first.get_json()
    assert first.get_json()["status"] == "queued"
    again = client.post(route, data=body, headers=headers)
    again_api = client.post(f"/api/v1{route}", data=body, headers=headers)
    for duplicate in (again, again_api):
        assert duplicate.status_code == 200
        assert duplicate.get_json() == {"event_id": first.get_json()["event_id"],
                                        "status": "duplicate"}
    assert store.count_events() == 1


@pytest.mark.parametrize("route", ROUTES)
def test_forged_delivery_under_api_v1_is_refused_like_on_the_plain_route(client, store, route):
    body, headers = signed(route, VALID_BODY[route](), secret="whsec_bm90LXRoZS1zZWNyZXQtYXQtYWxsLW5vLXNpcg=="
                           if route == "/events" else "wrong-secret")
    plain = client.post(route, data=body, headers=headers)
    api = client.post(f"/api/v1{route}", data=body, headers=headers)
    code = FORGED_CODE.get(route, "invalid_signature")
    assert_error(plain, 401, code)
    assert_error(api, 401, code)
    assert api.get_json() == plain.get_json()
    assert store.count_events() == 0


@pytest.mark.parametrize("route", ROUTES)
def test_unsigned_delivery_under_api_v1_is_refused_like_on_the_plain_route(client, store, route):
    body, headers = signed(route, VALID_BODY[route]())
    for name in AUTH_HEADERS[route]:
        headers.pop(name)
    assert_error(client.post(f"/api/v1{route}", data=body, headers=headers), 401,
                 MISSING_CODE.get(route, "missing_signature"))
    assert store.count_events() == 0


@pytest.mark.parametrize("route", ROUTES)
def test_malformed_and_wrong_media_type_under_api_v1_get_the_same_4xx(client, store, route):
    body, headers = signed(route, b"{not json")
    assert_error(client.post(f"/api/v1{route}", data=body, headers=headers), 400,
                 "malformed_json")
    body, headers = signed(route, VALID_BODY[route]())
    headers["Content-Type"] = "text/plain"
    assert_error(client.post(f"/api/v1{route}", data=body, headers=headers), 415,
                 "unsupported_media_type")
    assert store.count_events() == 0


@pytest.mark.parametrize("route", ROUTES)
def test_a_disabled_source_is_disabled_under_api_v1_too(settings, store, route):
    off = changed(settings, mlflow_secrets=None, databricks_secrets=None,
                  databricks_jobs_password=None, events_secrets=None)
    client = make_client(off, store)
    body, headers = signed(route, VALID_BODY[route]())
    assert_error(client.post(f"/api/v1{route}", data=body, headers=headers), 404,
                 "source_disabled")


def test_api_v1_intake_routes_do_not_need_the_admin_token(client):
    # The admin API lives under /api too; its bearer check must not reach intake.
    body, headers = signed("/events", VALID_BODY["/events"]())
    assert "Authorization" not in headers
    assert client.post("/api/v1/events", data=body, headers=headers).status_code == 202
