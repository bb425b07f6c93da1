"""deploy/monitoring: every metric the alert rules and the dashboard query is one reghook exposes.

The exposition is rendered for real: a worker's probes over a store in which
the registry watch has looked once (its gauge is absent until then).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import update

from handler.store.engine import utcnow
from handler.store.tables import watch_state
from handler.worker.probes import Probes
from handler.worker.runtime import WorkerRuntime

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
METRIC = re.compile(r"\breghook_[a-z_]+")
# Series a family exposes besides its own name (histograms and counters).
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


def alert_rules() -> list[dict]:
    document = yaml.safe_load((MONITORING / "reghook-alerts.yaml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "reghook-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@pytest.fixture
def exposed(store, settings) -> set[str]:
    """Every metric family and series name a worker's /metrics shows."""
    store.claim_watch_look("m", "worker-1", every_s=60)
    runtime = WorkerRuntime(store, settings, lambda event: None, owner="worker-1")
    probes = Probes(runtime, store, host="127.0.0.1", port=0, stale_after_s=60)
    try:
        status, body, _ = probes.answer("/metrics")
    finally:
        probes.server.server_close()  # never served: nothing to shut down
    assert status == 200
    names = set()
    for line in body.decode().splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def known(name: str, exposed: set[str]) -> bool:
    return name in exposed or any(name.endswith(s) and name.removesuffix(s) in exposed
                                  for s in SUFFIXES)


def test_every_alert_names_only_exposed_metrics(exposed):
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {
        "ReghookQueueStuck", "ReghookEventsFailed", "ReghookOutboxFailures",
        "ReghookOutboxBehind", "ReghookWatchLagging"}
    for rule in rules:
        names = METRIC.findall(rule["expr"])
        assert names, rule["alert"]
        assert [n for n in names if not known(n, exposed)] == [], rule["alert"]
        assert rule["annotations"]["summary"] and rule["labels"]["severity"]


def test_every_dashboard_query_names_only_exposed_metrics(exposed):
    queries = dashboard_queries()
    assert len(queries) >= 10
    for expr in queries:
        assert [n for n in METRIC.findall(expr) if not known(n, exposed)] == [], expr


def test_the_watch_lag_gauge_is_the_age_of_the_least_recent_look(store, settings):



    assert store.backlog().oldest_watch_look_age_s is None  # the watch never looked
    store.claim_watch_look("a", "w", every_s=60)
    store.claim_watch_look("b", "w", every_s=60)
    with store.tx.write() as connection:
        connection.execute(update(watch_state).where(watch_state.c.model == "a")
                           .values(looked_at=utcnow() - timedelta(minutes=20)))
    assert 1190 < (store.backlog().oldest_watch_look_age_s or 0) < 1230
