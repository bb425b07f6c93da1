"""The console in a real headless Chromium: login, cookie, filters, an event, replay, CSRF, origin."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import ADMIN_TOKEN
from tests.support.browser import chromium, log_in, requested_urls, require_chromium, serving

# A real browser takes seconds to start: these run in the full suite (and CI), not the fast tier.
pytestmark = pytest.mark.slow

SIGNATURE = "v1,c2lnbmF0dXJlLXZhbHVlLXRoYXQtbXVzdC1uZXZlci1zaG93"


@pytest.fixture
def base_url(app) -> Iterator[str]:
    require_chromium()
    with serving(app) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def _by():
    from selenium.webdriver.common.by import By

    return By


def stored(store, status: str, *, key: str, headers: dict[str, str] | None = None) -> str:
    event_id, _ = store.ingest(source="events", event_type="run.finished", idempotency_key=key,
                               status=status, body=json.dumps({"run_id": key}),
                               headers=headers or {})
    return event_id


def test_login_with_a_wrong_token_is_refused(base_url, browser):
    log_in(browser, base_url, "not-the-token")
    assert "Refused" in browser.find_element(_by().CSS_SELECTOR, "[role=alert]").text
    assert browser.get_cookie("reghook_console") is None
    browser.get(f"{base_url}/console/events")
    assert urlsplit(browser.current_url).path == "/console/login"


def test_session_cookie_is_httponly_and_samesite_strict(base_url, browser):
    log_in(browser, base_url, ADMIN_TOKEN)
    cookie = browser.get_cookie("reghook_console")
    assert cookie is not None
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console"
    # Page scripts cannot read it.
    assert "reghook_console" not in browser.execute_script("return document.cookie")


def test_events_filtered_by_status_show_only_that_status(base_url, browser, store):
    failed = stored(store, "failed", key="k-failed")
    done = stored(store, "done", key="k-done")
    log_in(browser, base_url, ADMIN_TOKEN)
    browser.get(f"{base_url}/console/events")
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(_by().NAME, "status")).select_by_value("failed")
    browser.find_element(_by().CSS_SELECTOR, ".filters button").click()
    page = browser.find_element(_by().CSS_SELECTOR, "table.events").text
    assert failed in page and done not in page
    badges = [b.text for b in browser.find_elements(_by().CSS_SELECTOR, "table.events .badge")]
    assert badges == ["failed"]  # the status is written out, not only coloured


def test_event_page_shows_headers_but_no_signature_values(base_url, browser, store):
    event_id = stored(store, "done", key="k-sig", headers={
        "Content-Type": "application/json", "webhook-id": "msg_1",
        "webhook-signature": SIGNATURE, "X-Custom-Signature-V2": SIGNATURE})
    log_in(browser, base_url, ADMIN_TOKEN)
    browser.get(f"{base_url}/console/events/{event_id}")
    text = browser.find_element(_by().TAG_NAME, "body").text
    assert "msg_1" in text and "k-sig" in text
    assert SIGNATURE not in browser.page_source


def test_replay_button_creates_a_linked_event(base_url, browser, store):
    original = stored(store, "failed", key="k-replay")
    log_in(browser, base_url, ADMIN_TOKEN)
    browser.get(f"{base_url}/console/events/{original}")
    browser.find_element(_by().ID, "replay").click()
    # Selenium's click returns before the form's redirect lands: wait for the new page.
    deadline = time.monotonic() + 15
    while urlsplit(browser.current_url).path.endswith(original) and time.monotonic() < deadline:
        time.sleep(0.1)
    new_id = urlsplit(browser.current_url).path.rsplit("/", 1)[-1]
    assert new_id != original
    copy = store.get_event(new_id)
    assert copy["replay_of"] == original and copy["source"] == "replay"
    link = browser.find_element(_by().LINK_TEXT, original)
    assert link.get_attribute("href").endswith(f"/console/events/{original}")


def test_a_post_without_the_csrf_token_changes_nothing(base_url, browser, store):
    original = stored(store, "failed", key="k-csrf")
    log_in(browser, base_url, ADMIN_TOKEN)
    session = requests.Session()
    cookie = browser.get_cookie("reghook_console")
    session.cookies.set(cookie["name"], cookie["value"], path="/console")
    before = store.count_events()
    for form in ({}, {"csrf": "forged"}):
        response = session.post(f"{base_url}/console/events/{original}/replay", data=form,
                                allow_redirects=False)
        assert response.status_code == 403
    assert session.post(f"{base_url}/console/models/churn/rollback", data={"reason": "x"},
                        allow_redirects=False).status_code == 403
    assert store.count_events() == before
    # The same session with the page's token works: the refusal was the token's doing.
    browser.get(f"{base_url}/console/events/{original}")
    token = browser.find_element(_by().NAME, "csrf").get_attribute("value")
    assert session.post(f"{base_url}/console/events/{original}/replay", data={"csrf": token},
                        allow_redirects=False).status_code == 303
    assert store.count_events() == before + 1


def test_no_request_leaves_the_servers_origin(base_url, browser, store):
    event_id = stored(store, "failed", key="k-origin")
    log_in(browser, base_url, ADMIN_TOKEN)
    seen: list[str] = []
    for path in ("/console/events", f"/console/events/{event_id}", "/console/failures",
                 "/console/models", "/console/models/churn"):
        browser.get(base_url + path)
        seen += requested_urls(browser)
    origins = {f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in seen}
    assert origins == {base_url}
    assert any(u.endswith("/console/static/console.css") for u in seen)  # the check sees resources
