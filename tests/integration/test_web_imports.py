"""The web process stays light: serving requests never imports mlflow or databricks.sdk (docs/processing.md).

Checked from a fresh interpreter, because this test session itself has
imported mlflow long ago.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from handler.store import upgrade
from tests.conftest import ADMIN_TOKEN, EVENTS_SECRET, MLFLOW_SECRET
from tests.support.web import ROOT, mlflow_delivery, standard_delivery

HEAVY = ("mlflow", "databricks.sdk", "sklearn")

# Runs in the child: import the entry points, serve a few requests, report.
CHILD = r"""
import json, sys
requests_to_send = json.loads(sys.stdin.read())
extra = sys.argv[1]
if extra:
    __import__(extra)
import deploy.wsgi
from handler.web import create_app
from handler.settings import Settings
from handler.store import Store

answers = []
settings = Settings()
for app in (deploy.wsgi.app, create_app(settings, Store.from_url(settings.database_url))):
    client = app.test_client()
    for method, path, body, headers in requests_to_send:
        response = client.open(path, method=method, data=body.encode(), headers=headers)
        answers.append([path, response.status_code])
heavy = sorted(name for name in sys.modules
               if any(name == h or name.startswith(h + ".") for h in sys.argv[2].split(",")))
print(json.dumps({"answers": answers, "heavy": heavy}))
"""


def run_web_in_fresh_interpreter(tmp_path: Path, extra_import: str = "") -> dict:
    url = f"sqlite:///{tmp_path / 'reghook.db'}"
    upgrade(url)
    mlflow_body, mlflow_headers = mlflow_delivery(MLFLOW_SECRET, {
        "entity": "model_version", "action": "created",
        "data": {"name": "m", "version": "1", "source": "models:/m-1", "run_id": "abc"}})
    event_body, event_headers = standard_delivery(EVENTS_SECRET, {"type": "run.finished",
                                                                  "run_id": "abc"})
    rejected_body, rejected_headers = standard_delivery(EVENTS_SECRET, {"type": "run.finished"})
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    to_send = [
        ["POST", "/webhooks/mlflow", mlflow_body.decode(), mlflow_headers],
        ["POST", "/events", event_body.decode(), event_headers],
        ["POST", "/events", rejected_body.decode(), rejected_headers],
        ["POST", "/webhooks/databricks-jobs", "{}", {"Content-Type": "application/json"}],
        ["GET", "/api/events", "", admin],
        ["GET", "/readyz", "", {}],
        ["GET", "/metrics", "", {}],
    ]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABRICKS_CONFIG_FILE": str(tmp_path / "none"),
        "REGHOOK_DATABASE_URL": url,
        "REGHOOK_MLFLOW_SECRETS": MLFLOW_SECRET,
        "REGHOOK_EVENTS_SECRETS": EVENTS_SECRET,
        "REGHOOK_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, extra_import, ",".join(HEAVY)],
        input=json.dumps(to_send), capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_serving_requests_imports_neither_mlflow_nor_databricks_sdk(tmp_path):
    report = run_web_in_fresh_interpreter(tmp_path)
    # deploy.wsgi's app first, then one from create_app over the same store
    # (so the deliveries come back as duplicates).
    assert report["answers"] == [
        ["/webhooks/mlflow", 202], ["/events", 202], ["/events", 422],
        ["/webhooks/databricks-jobs", 404], ["/api/events", 200], ["/readyz", 200],
        ["/metrics", 200],
        ["/webhooks/mlflow", 200], ["/events", 200], ["/events", 422],
        ["/webhooks/databricks-jobs", 404], ["/api/events", 200], ["/readyz", 200],
        ["/metrics", 200],
    ]
    assert report["heavy"] == []


@pytest.mark.slow
def test_the_import_check_would_see_mlflow(tmp_path):
    # The control: if something on the web path imported mlflow, the check above would say so.
    report = run_web_in_fresh_interpreter(tmp_path, extra_import="mlflow")
    assert "mlflow" in report["heavy"]
