"""The model page in headless Chromium against a real mlflow server: three governed versions, one rollback.

v1 passes and is approved (champion), v2 fails its gates, v3 passes and waits
for approval. Everything the page shows was recorded by reghook while
governing: the console itself never talks to the registry.
"""

from __future__ import annotations

import uuid

import mlflow
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.e2e.test_lifecycle import champion, queue_run, version_of
from tests.support.browser import chromium, log_in, require_chromium
from tests.support.churn import log_churn_run
from tests.support.harness import policy_yaml, running_reghook, wait_for

pytestmark = [pytest.mark.mlflow, pytest.mark.slow]


def _cells(driver, row_label: str) -> list[str]:
    from selenium.webdriver.common.by import By

    for row in driver.find_elements(By.CSS_SELECTOR, "#comparison tbody tr"):
        if row.find_element(By.TAG_NAME, "th").text == row_label:
            return [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    raise AssertionError(f"no row {row_label!r} in the comparison")


def test_model_page_shows_timeline_and_comparison_of_three_governed_versions(
        mlflow_server, tmp_path, monkeypatch):
    require_chromium()
    from selenium.webdriver.common.by import By

    suffix = uuid.uuid4().hex[:8]
    model, experiment = f"churn_{suffix}", f"/Shared/console_{suffix}"
    client = mlflow.MlflowClient(mlflow_server.url)
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, experiment),
                         monkeypatch=monkeypatch, admin_token=ADMIN_TOKEN) as reghook:
        first = queue_run(reghook, log_churn_run(mlflow_server.url, experiment, good=True,
                                                 seed=7).run_id)
        v1 = reghook.store.get_event(first)["actions"][0]["version"]
        client.set_model_version_tag(model, v1, "approval", "approved")
        wait_for(lambda: champion(client, model) == v1, 30, "v1 to become champion")
        reghook.quiet(settle_s=2)
        run2 = log_churn_run(mlflow_server.url, experiment, good=False, seed=8)
        queue_run(reghook, run2.run_id)
        run3 = log_churn_run(mlflow_server.url, experiment, good=True, seed=8)
        queue_run(reghook, run3.run_id)
        v2, v3 = version_of(client, model, run2.run_id), version_of(client, model, run3.run_id)

        with chromium() as driver:
            log_in(driver, reghook.url, ADMIN_TOKEN)
            driver.get(f"{reghook.url}/console/models/{model}")
            headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR,
                                                              "#comparison thead th")]
            assert headers == ["", f"v{v1}", f"v{v2}", f"v{v3}"]
            assert _cells(driver, "status") == ["passed", "failed", "passed"]
            recall = _cells(driver, "gate recall")
            assert recall[0].startswith("ok") and recall[1].startswith("FAIL")
            assert "want >=0.7" in recall[1]
            assert _cells(driver, "approver") == ["mlflow", "—", "—"]
            assert _cells(driver, "aliases now")[0] == "champion"
            tenure = _cells(driver, "alias tenure")
            assert "champion" in tenure[0] and tenure[0].endswith("→ now")
            assert tenure[1] == "—" and tenure[2].startswith("staging ")
            assert _cells(driver, "run") == [reghook.store.get_event(first)["actions"][0]
                                             ["detail"]["run_id"], run2.run_id, run3.run_id]
            assert _cells(driver, "metric recall")[1] != "—"
            assert "columns" in _cells(driver, "signature")[1]  # read by the signature gate

            timeline = driver.find_element(By.ID, "timeline")
            kinds = [r.find_elements(By.TAG_NAME, "td")[1].text
                     for r in timeline.find_elements(By.CSS_SELECTOR, "tbody tr")]
            assert {"registered", "validated", "promoted"} <= set(kinds)
            link = timeline.find_element(By.LINK_TEXT, first)
            link.click()
            assert driver.find_element(By.TAG_NAME, "h1").text.startswith(f"Event {first}")

            # The Roll back button: v3 approved takes champion, the button gives it back to v1.
            client.set_model_version_tag(model, v3, "approval", "approved")
            wait_for(lambda: champion(client, model) == v3, 30, "v3 to become champion")
            driver.get(f"{reghook.url}/console/models/{model}")
            driver.find_element(By.NAME, "reason").send_keys("latency regression")
            driver.find_element(By.ID, "rollback").click()
            # The click returns before the form's redirect lands: wait for the event page.
            wait_for(lambda: "/console/events/" in driver.current_url, 15, "the rollback's event")
            event_id = driver.current_url.rsplit("/", 1)[-1]
            wait_for(lambda: reghook.store.get_event(event_id)["status"] == "done", 30,
                     "the worker to carry out the rollback")
            event = reghook.store.get_event(event_id)
            assert event["type"] == "rollback.requested" and event["source"] == "cli"
            assert champion(client, model) == v1
            moves = reghook.store.alias_moves(model, "champion")
            assert (moves[-1]["version"], moves[-1]["previous_version"]) == (v1, v3)
            assert moves[-1]["reason"] == "rollback: latency regression"
