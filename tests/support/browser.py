"""Headless Chromium for the console's browser tests: Debian's chromium and chromedriver.

The browser is the system's (``apt-get install chromium chromium-driver``,
as ``.ci/run`` does); tests skip with that sentence when it is absent. The
flags keep Chromium from calling home, so "no request leaves the server's
origin" is about the page, not the browser's own housekeeping.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
         "--window-size=1366,900")


def require_chromium() -> None:
    """Skip, saying why, when the system browser is not installed."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("browser tests need Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver)")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium driven by Selenium through the system chromedriver."""
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve a Flask app on a free local port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def log_in(driver: Any, base_url: str, token: str) -> None:
    """Log in through the form, as a person would."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/console/login")
    driver.find_element(By.ID, "token").send_keys(token)
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    # The click only starts the post: wait for its answer (logged in, or refused),
    # so the test's next navigation does not race the redirect.
    WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".logout, [role=alert]"))


def requested_urls(driver: Any) -> list[str]:
    """Every URL the current page loaded: the document and each resource (Resource Timing)."""
    return list(driver.execute_script(
        "return [location.href].concat(performance.getEntriesByType('navigation'),"
        " performance.getEntriesByType('resource')).map(e => e.name || e)"))
