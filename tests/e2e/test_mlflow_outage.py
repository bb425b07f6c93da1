"""An MLflow outage delays governance but loses and fails nothing (docs/processing.md: transient errors).

This test stops and restarts its OWN tracking server (same port, same
database and artifacts), never the session's: other tests share that one.
"""

from __future__ import annotations

import uuid

import mlflow
import pytest

from tests.support.churn import log_churn_run
from tests.support.harness import policy_yaml, running_reghook, versions_of_run, wait_for
from tests.support.mlflow_server import MlflowServer

pytestmark = [pytest.mark.mlflow, pytest.mark.slow]


def test_events_wait_out_an_mlflow_outage_and_complete_when_it_returns(tmp_path, monkeypatch):
    server = MlflowServer(tmp_path / "mlflow")
    server.start()
    try:
        model, experiment = f"churn_{uuid.uuid4().hex[:8]}", f"/Shared/outage_{uuid.uuid4().hex[:8]}"
        before = log_churn_run(server.url, experiment, good=True, seed=8)
        during = [log_churn_run(server.url, experiment, good=True, seed=13),
                  log_churn_run(server.url, experiment, good=False, seed=7)]
        with running_reghook(tmp_path, server.url, policy_yaml(model, experiment),
                             monkeypatch=monkeypatch, max_attempts=1000) as reghook:
            first = reghook.wait_status(reghook.run_finished(before.run_id))
            assert (first["status"], first["reason"]) == ("done", "v1 passed")

            server.stop()
            waiting = [reghook.run_finished(run.run_id) for run in during]
            waiting.append(reghook.store.replay(first["id"]))
            reghook.runtime.wake()

            def retried_three_times() -> bool:
                return all(reghook.event(e)["attempts"] >= 3 for e in waiting)

            wait_for(retried_three_times, 120, "three attempts on every event during the outage")
            for event_id in waiting:
                event = reghook.event(event_id)
                assert event["status"] in ("queued", "processing"), event
                assert "MLflow" in event["last_error"], event
                if event["status"] == "queued":
                    assert event["next_attempt_at"] is not None
                assert all(a["outcome"] in ("retry", None) for a in event["attempt_log"]), event
            assert not reghook.store.counts_by_status().get("failed")

            server.start()  # the same port, database and artifact store
            for event_id in waiting:
                reghook.wait_status(event_id, timeout_s=120)
            reghook.quiet()

            counts = reghook.store.counts_by_status()
            assert set(counts) <= {"done", "ignored"}, counts
            client = mlflow.MlflowClient(server.url)
            governed = {}
            for run, status in ((before, "passed"), (during[0], "passed"), (during[1], "failed")):
                versions = versions_of_run(client, model, run.run_id)
                assert len(versions) == 1, versions
                assert versions[0].tags["reghook.status"] == status
                governed[run.run_id] = (versions[0].version, status)
            # Which waiting run was registered first after the outage is up to the queue.
            expected = [governed[run.run_id] for run in during] + [("1", "passed")]
            assert [reghook.event(e)["reason"] for e in waiting] == [
                f"v{version} {status}" for version, status in expected]
            assert client.get_registered_model(model).aliases == {
                "staging": governed[during[0].run_id][0]}
            outcomes = sorted((m["version"], m["outcome"]) for m in reghook.store.list_outbox(model=model))
            assert outcomes == sorted([(version, "registered" if status == "passed" else "rejected")
                                       for version, status in governed.values()])
    finally:
        server.stop()
