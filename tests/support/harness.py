"""A whole reghook (web app + worker thread) in the test process, wired to a real mlflow server.

The mlflow server holds a webhook pointing at this reghook, so registry
events in these tests are sent — and signed — by the server itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handler.demo.stack import running_reghook as running
from handler.demo.stack import settle, wait_until
from handler.settings import Settings
from handler.store import Store, upgrade
from handler.worker.runtime import WorkerRuntime

WEBHOOK_SECRET = "mlflow-webhook-secret"


def policy_yaml(model: str, experiment: str, **overrides: Any) -> str:
    """A churn policy like docs/policy.md's, with every gate on."""
    import yaml

    policy: dict[str, Any] = {
        "name": model,
        "experiment": experiment,
        "artifact_path": "churn_pipeline_model",
        "register": "always",
        "gates": {
            "metrics": {"recall": {"min": 0.70}, "precision": {"min": 0.15}},
            "champion": {"alias": "champion", "metric": "recall", "max_regression": 0.02},
            "signature": "match_champion",
            "dataset": "match_champion",
            "required_tags": ["git_commit"],
        },
        "on_pass": {"aliases": ["staging"],
                    "tags": {"deployment_mode": "batch_inference_only",
                             "known_limitation": "extreme_class_imbalance"}},
        "on_fail": {"tags": {"deployment_mode": "blocked"}},
        "promotion": {"alias": "champion", "approval_tag": "approval", "guard": "revert"},
    }
    policy.update(overrides)
    return yaml.safe_dump({"models": [policy]})


def wait_for(predicate: Callable[[], Any], timeout_s: float = 60, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy; fail the test after ``timeout_s``."""
    return wait_until(predicate, timeout_s, what, AssertionError)


@dataclass
class Reghook:
    """A running in-process reghook."""

    url: str
    store: Store
    runtime: WorkerRuntime
    settings: Settings
    webhook_id: str | None = None

    @property
    def context(self) -> Any:
        """The worker's governance context (registry, ledger, policies)."""
        return self.runtime.context

    def run_finished(self, run_id: str, model: str | None = None, *,
                     key: str | None = None) -> str:
        """Store a ``run.finished`` event as ``/events`` would, wake the worker, return its id."""
        body = {"type": "run.finished", "run_id": run_id, **({"model": model} if model else {})}
        event_id, _ = self.store.ingest(source="events", event_type="run.finished",
                                        idempotency_key=key or uuid.uuid4().hex,
                                        status="queued", body=json.dumps(body), headers={})
        self.runtime.wake()
        return event_id

    def event(self, event_id: str) -> dict[str, Any]:
        """One stored event (status, attempts, reason, last_error, actions...)."""
        event = self.store.get_event(event_id)
        assert event is not None, f"no event {event_id}"
        return event

    def wait_status(self, event_id: str, *statuses: str, timeout_s: float = 60) -> dict[str, Any]:
        """Wait until an event reaches one of ``statuses`` (default: done or ignored)."""
        wanted = statuses or ("done", "ignored")
        wait_for(lambda: self.event(event_id)["status"] in wanted, timeout_s,
                 f"event {event_id} to be {' or '.join(wanted)}")
        return self.event(event_id)

    def quiet(self, settle_s: float = 3.0, timeout_s: float = 60) -> None:
        """Wait until no event is queued or processing and nothing new arrived for ``settle_s``."""
        settle(self.store, settle_s, timeout_s, AssertionError)


def versions_of_run(client: Any, model: str, run_id: str) -> list[Any]:
    """Every version of ``model`` made from ``run_id``, read from the registry (tags included)."""
    found = client.search_model_versions(f"run_id = '{run_id}'")
    return sorted((client.get_model_version(v.name, v.version) for v in found if v.name == model),
                  key=lambda v: int(v.version))


@contextmanager
def running_reghook(tmp_path: Path, tracking_uri: str, policy: str, *,
                    monkeypatch: Any, webhook: bool = True, start_worker: bool = True,
                    **settings_overrides: Any) -> Iterator[Reghook]:
    """Start reghook's app (werkzeug, threaded) and a worker thread; subscribe the mlflow server."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    policy_path = tmp_path / f"policy-{uuid.uuid4().hex[:6]}.yaml"
    policy_path.write_text(policy)
    database_url = f"sqlite:///{tmp_path / f'reghook-{uuid.uuid4().hex[:6]}.db'}"
    upgrade(database_url)
    settings = Settings(database_url=database_url, policy=str(policy_path),
                        mlflow_secrets=WEBHOOK_SECRET, backoff_base_s=0.2, backoff_max_s=2,
                        poll_interval_s=0.2, **settings_overrides)
    with running(settings, tracking_uri, webhook_secret=WEBHOOK_SECRET, webhook=webhook,
                 start_worker=start_worker) as started:
        yield Reghook(started.url, started.store, started.runtime, settings, started.webhook_id)
