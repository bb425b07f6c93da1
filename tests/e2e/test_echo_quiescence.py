"""MLflow echoes every registry write back as a webhook; reghook's own echoes cause nothing.

The session's mlflow server really sends the echoes here. Each test counts
the worker's registry writes and the registry calls of every event, waits
until reghook goes quiet, and checks that once the governing event was done
nothing more was written: the system settles instead of feeding itself.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import mlflow
import pytest

from handler.governance.ports import Registry
from tests.support.churn import log_churn_run
from tests.support.harness import policy_yaml, running_reghook, versions_of_run, wait_for

pytestmark = pytest.mark.mlflow

WRITES = ("create_version", "set_tag", "set_alias", "delete_alias")
# Every method of the registry port that talks to MLflow (run_url and facts
# of cached values included: an echo must need none of them).
PORT_METHODS = tuple(name for name, member in vars(Registry).items()
                     if callable(member) and not name.startswith("_"))
# The test server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL=1 s: a
# write made sooner after subscribing would not be echoed to this reghook.
SUBSCRIPTION_SETTLE_S = 1.5


@dataclass
class ProcessedEvent:
    """One event as the worker processed it, with what it cost."""

    id: str
    type: str
    registry_calls: int
    writes: list[str]


@dataclass
class RegistryMeter:
    """Counts the worker's registry writes, and calls and writes per processed event."""

    registry: Any
    writes: list[str] = field(default_factory=list)
    processed: list[ProcessedEvent] = field(default_factory=list)

    calls: int = 0

    @classmethod
    def install(cls, reghook) -> RegistryMeter:
        """Wrap every registry port method of the worker: calls counted, writes named."""
        meter = cls(reghook.context.registry)
        for name in PORT_METHODS:
            original = getattr(meter.registry, name)

            def counted(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any):
                meter.calls += 1
                if _name in WRITES:
                    meter.writes.append(_name)
                return _original(*args, **kwargs)

            setattr(meter.registry, name, counted)
        process = reghook.runtime.process

        def metered(event):
            calls, writes = meter.calls, len(meter.writes)
            try:
                return process(event)
            finally:
                meter.processed.append(ProcessedEvent(event.id, event.type, meter.calls - calls,
                                                      meter.writes[writes:]))

        reghook.runtime.process = metered
        return meter

    def after(self, event_id: str) -> list[ProcessedEvent]:
        """Events processed after ``event_id``."""
        ids = [p.id for p in self.processed]
        return self.processed[ids.index(event_id) + 1:]


@pytest.fixture(scope="module")
def run(mlflow_server):
    experiment = f"/Shared/echo_{uuid.uuid4().hex[:8]}"
    return SimpleNamespace(experiment=experiment,
                           logged=log_churn_run(mlflow_server.url, experiment, good=True))


def wait_for_echoes(reghook, expected: dict[str, int]) -> None:
    """Wait until MLflow has delivered (at least) these echoes, so the test is never vacuous."""
    def arrived() -> bool:
        types = [e["type"] for e in reghook.store.list_events(source="mlflow", limit=1000)]
        return all(types.count(t) >= n for t, n in expected.items())

    wait_for(arrived, 60, f"MLflow's echoes {expected}")


def assert_echoes_ignored(reghook, meter: RegistryMeter, after_event: str) -> list[ProcessedEvent]:
    """Everything processed after ``after_event`` wrote nothing and cost at most one call."""
    echoes = meter.after(after_event)
    assert [e.writes for e in echoes if e.writes] == []
    for echo in echoes:
        stored = reghook.event(echo.id)
        assert echo.registry_calls <= 1, (echo, stored)
        if echo.type == "registered_model.created":
            assert (stored["status"], stored["reason"]) == ("done", "audit only")
        else:
            assert stored["status"] == "ignored", stored
            assert "echo" in stored["reason"], stored
    return echoes


def test_echoes_of_a_governed_run_and_its_replay_cause_no_registry_writes(
        mlflow_server, run, tmp_path, monkeypatch):
    model = f"churn_{uuid.uuid4().hex[:8]}"
    client = mlflow.MlflowClient(mlflow_server.url)
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, run.experiment),
                         monkeypatch=monkeypatch) as reghook:
        meter = RegistryMeter.install(reghook)
        time.sleep(SUBSCRIPTION_SETTLE_S)
        governed = reghook.wait_status(reghook.run_finished(run.logged.run_id))
        assert (governed["status"], governed["reason"]) == ("done", "v1 passed")
        # The governance tags ride on the registration itself: two writes in all.
        assert meter.writes == ["create_version", "set_alias"]

        wait_for_echoes(reghook, {"model_version.created": 1, "model_version_alias.created": 1})
        reghook.quiet()
        assert_echoes_ignored(reghook, meter, governed["id"])
        assert len(meter.writes) == 2

        replay_id = reghook.store.replay(governed["id"])
        reghook.runtime.wake()
        replayed = reghook.wait_status(replay_id)
        assert (replayed["status"], replayed["reason"]) == ("done", "v1 passed")
        events_before_quiet = reghook.store.count_events()
        reghook.quiet()
        assert len(meter.writes) == 2
        assert reghook.store.count_events() == events_before_quiet  # nothing written, nothing echoed
        assert [v.version for v in versions_of_run(client, model, run.logged.run_id)] == ["1"]
        assert [m["outcome"] for m in reghook.store.list_outbox(model=model)] == ["registered"]


def test_echoes_of_governing_a_hand_registered_version_cause_no_registry_writes(
        mlflow_server, run, tmp_path, monkeypatch):
    model = f"churn_{uuid.uuid4().hex[:8]}"
    client = mlflow.MlflowClient(mlflow_server.url)
    with running_reghook(tmp_path, mlflow_server.url, policy_yaml(model, run.experiment),
                         monkeypatch=monkeypatch) as reghook:
        meter = RegistryMeter.install(reghook)
        time.sleep(SUBSCRIPTION_SETTLE_S)
        # Someone registers the run's model by hand: reghook validates, then tags one by one.
        model_id = client.get_run(run.logged.run_id).outputs.model_outputs[0].model_id
        client.create_registered_model(model)
        client.create_model_version(model, f"models:/{model_id}", run_id=run.logged.run_id,
                                    model_id=model_id)
        # Seven tags (five reghook.* and the policy's two on_pass tags) and one alias.
        wait_for_echoes(reghook, {"model_version_tag.set": 7, "model_version_alias.created": 1})
        reghook.quiet()

        created = [p for p in meter.processed if p.type == "model_version.created"]
        assert len(created) == 1
        governed = reghook.event(created[0].id)
        assert (governed["status"], governed["reason"]) == ("done", "v1 passed")
        tag_writes = [w for w in created[0].writes if w == "set_tag"]
        assert len(tag_writes) == 7
        assert created[0].writes.count("set_alias") == 1

        echoes = assert_echoes_ignored(reghook, meter, created[0].id)
        echo_types = [e.type for e in echoes]
        assert echo_types.count("model_version_tag.set") == len(tag_writes)
        assert echo_types.count("model_version_alias.created") == 1
        assert all(e.registry_calls == 0 for e in echoes)  # recognised from the ledger alone
        version = client.get_model_version(model, "1")
        assert version.tags["reghook.status"] == "passed"
        assert version.tags["reghook.event_id"] == governed["id"]
        assert client.get_registered_model(model).aliases == {"staging": "1"}
