"""A sent notification is in the audit trail: who was told what, by channel name only."""

from __future__ import annotations

import io

from handler.channels import ChannelConfig
from handler.notify.outbox import Notifier
from handler.outcomes import Outcome


def test_sending_a_notification_records_a_notified_audit_entry(store):
    outcome = Outcome("registered", "churn", "3", "evt_abc", run_id="r1")
    store.record(outcomes=[("ops-log", outcome)])
    out = io.StringIO()
    notifier = Notifier(store, {"ops-log": ChannelConfig(type="log")}, stdout=out)
    assert notifier.send_due() == 1
    assert notifier.send_due() == 0  # sent once
    notified = [e for e in store.audit_trail("churn") if e["kind"] == "notified"]
    assert len(notified) == 1
    entry = notified[0]
    assert (entry["version"], entry["event_id"], entry["detail"]) == (
        "3", "evt_abc", {"channel": "ops-log", "outcome": "registered"})
    assert out.getvalue().count("\n") == 1
