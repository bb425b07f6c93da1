"""`reghook worker --once` leaves no paced notification behind."""

from __future__ import annotations

import responses

from handler.channels import ChannelConfig
from handler.governance.results import done
from handler.notify.outbox import Notifier
from handler.outcomes import Outcome
from handler.worker.runtime import WorkerRuntime

SLACK = "https://hooks.slack.com/services/T000/B000/drain-test"


@responses.activate
def test_drain_waits_for_messages_held_back_by_slack_pacing(store, settings):
    responses.post(SLACK, body="ok", status=200)
    for version in ("1", "2", "3"):
        store.record(outcomes=[("team", Outcome("registered", "churn", version, f"evt_{version}"))])
    notifier = Notifier(store, {"team": ChannelConfig(type="slack", url=SLACK)})
    runtime = WorkerRuntime(store, settings, lambda event: done(), notifier)
    runtime.drain(notify_wait_s=20)
    assert len(responses.calls) == 3  # one per second per webhook, all sent before returning
    assert {m["status"] for m in store.list_outbox(model="churn")} == {"sent"}
