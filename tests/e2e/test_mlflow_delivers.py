"""A real ``mlflow server`` delivers and signs webhooks; reghook (under gunicorn) stores them.

Nothing here is built by the test: the bodies, delivery ids, timestamps and
signatures are the server's own. No worker runs, so stored events stay queued.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from handler.store import Store, upgrade
from tests.support.web import RunningReghook, running_reghook

pytestmark = pytest.mark.mlflow

SECRET = "e2e-webhook-secret"
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout_s: float = 30, what: str = "") -> T:
    """Poll until ``probe`` returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what or probe}")
        time.sleep(0.25)


@pytest.fixture
def reghook(tmp_path: Path) -> Iterator[tuple[RunningReghook, Store]]:
    url = f"sqlite:///{tmp_path / 'reghook.db'}"
    upgrade(url)
    env = {"REGHOOK_DATABASE_URL": url, "REGHOOK_MLFLOW_SECRETS": SECRET}
    store = Store.from_url(url)
    try:
        with running_reghook(env, tmp_path / "gunicorn", workers=1) as server:
            yield server, store
    finally:
        store.dispose()


@pytest.fixture
def mlflow_client(mlflow_server):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)


def subscribe(client: Any, server: RunningReghook, *, secret: str,
              events: list[tuple[str, str]]) -> Any:
    """Point a new MLflow webhook at reghook and give the server time to see it."""
    from mlflow.entities.webhook import WebhookEvent

    webhook = client.create_webhook(
        name=f"reghook-e2e-{uuid.uuid4().hex[:8]}", url=f"{server.url}/webhooks/mlflow",
        events=[WebhookEvent(entity, action) for entity, action in events], secret=secret)
    # The server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL=1 s.
    time.sleep(2)
    return webhook


def events_about(store: Store, model: str) -> list[dict]:
    """Stored MLflow events whose payload names ``model``, with their bodies."""
    found = []
    for event in store.list_events(source="mlflow", limit=1000):
        full = store.get_event(event["id"])
        if json.loads(full["body"]).get("data", {}).get("name") == model:
            found.append(full)
    return found


def test_server_signed_registry_events_are_stored_and_queued(reghook, mlflow_client):
    server, store = reghook
    model = f"e2e-churn-{uuid.uuid4().hex[:8]}"
    webhook = subscribe(mlflow_client, server, secret=SECRET, events=[
        ("registered_model", "created"), ("model_version", "created"),
        ("model_version_tag", "set"), ("model_version_alias", "created")])
    try:
        mlflow_client.create_registered_model(model)
        experiment = mlflow_client.create_experiment(f"e2e-{uuid.uuid4().hex[:8]}")
        run = mlflow_client.create_run(experiment)
        mlflow_client.set_terminated(run.info.run_id)
        version = mlflow_client.create_model_version(
            model, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
        mlflow_client.set_model_version_tag(model, version.version, "approval", "approved")
        mlflow_client.set_registered_model_alias(model, "staging", version.version)

        expected = {"registered_model.created", "model_version.created",
                    "model_version_tag.set", "model_version_alias.created"}
        stored = wait_for(
            lambda: (found := events_about(store, model))
            and expected <= {e["type"] for e in found} and found,
            what=f"{sorted(expected)} for {model}")
    finally:
        mlflow_client.delete_webhook(webhook.webhook_id)

    by_type = {event["type"]: event for event in stored}
    assert {event["status"] for event in stored} == {"queued"}
    assert len(stored) == len(by_type)  # each delivery stored once
    for event in stored:
        headers = {k.lower(): v for k, v in event["headers"].items()}
        assert "x-mlflow-signature" not in headers
        assert event["idempotency_key"] == headers["x-mlflow-delivery-id"]
        assert str(uuid.UUID(event["idempotency_key"])) == event["idempotency_key"]
    data = json.loads(by_type["model_version.created"]["body"])["data"]
    assert (data["name"], data["version"]) == (model, version.version)
    alias = json.loads(by_type["model_version_alias.created"]["body"])["data"]
    assert (alias["alias"], alias["version"]) == ("staging", version.version)
    tag = json.loads(by_type["model_version_tag.set"]["body"])["data"]
    assert (tag["key"], tag["value"]) == ("approval", "approved")


def deliveries_counted(server: RunningReghook, result: str) -> float:
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("reghook_deliveries_total{") and 'source="mlflow"' in line
               and f'result="{result}"' in line)


def test_webhook_with_a_wrong_secret_stores_nothing(reghook, mlflow_client):
    server, store = reghook
    model = f"e2e-forged-{uuid.uuid4().hex[:8]}"
    webhook = subscribe(mlflow_client, server, secret="not-the-configured-secret",
                        events=[("registered_model", "created")])
    try:
        before = deliveries_counted(server, "invalid_signature")
        mlflow_client.create_registered_model(model)
        # The delivery did arrive (and was refused) before we look at the store.
        wait_for(lambda: deliveries_counted(server, "invalid_signature") > before,
                 what="the forged delivery to be refused")
    finally:
        mlflow_client.delete_webhook(webhook.webhook_id)
    assert events_about(store, model) == []
    assert store.count_events() == 0
