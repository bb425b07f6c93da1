"""The intake use case over an in-memory sink: verify → parse → store once, the same for every source."""

from __future__ import annotations

import pytest

from handler.errors import InvalidPayload, SourceDisabled, StaleTimestamp, UnsupportedMediaType
from handler.intake import Intake
from handler.settings import Settings
from tests.support.web import databricks_delivery, standard_delivery

NOW = 1_780_000_000
EVENTS_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SETTINGS = Settings(events_secrets=EVENTS_SECRET, databricks_secrets="dbx")


class FakeSink:
    """Stores events in a dict keyed like the store: (source, idempotency key)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict] = {}

    def ingest(self, *, source, event_type, idempotency_key, status, body, headers,
               last_error=None, replay_of=None):
        key = (source, idempotency_key)
        if key in self.rows:
            return self.rows[key]["id"], False
        self.rows[key] = {"id": f"evt_{len(self.rows)}", "type": event_type, "status": status,
                          "last_error": last_error}
        return self.rows[key]["id"], True


def intake() -> tuple[Intake, FakeSink, list[str]]:
    sink, woken = FakeSink(), []
    return Intake(SETTINGS, sink, clock=lambda: NOW, on_stored=woken.append), sink, woken


def event(payload: dict, msg_id: str = "msg_1") -> tuple[bytes, dict[str, str]]:
    return standard_delivery(EVENTS_SECRET, payload, msg_id=msg_id, timestamp=NOW)


def test_an_acted_on_event_is_queued_once_and_wakes_the_worker_once():
    use_case, sink, woken = intake()
    body, headers = event({"type": "run.finished", "run_id": "r1"})
    first = use_case.receive("events", body, headers)
    again = use_case.receive("events", body, headers)
    assert (first.status, first.http_status, again.status, again.http_status) == (
        "queued", 202, "duplicate", 200)
    assert first.event_id == again.event_id and woken == [first.event_id]
    assert list(sink.rows) == [("events", "msg_1")]


def test_an_ignored_type_is_stored_but_wakes_nobody():
    use_case, sink, woken = intake()
    receipt = use_case.receive("events", *event({"type": "something.else"}))
    assert receipt.status == "ignored" and woken == []
    assert sink.rows[("events", "msg_1")]["status"] == "ignored"


def test_an_authentic_payload_of_the_wrong_shape_is_kept_as_rejected():
    use_case, sink, woken = intake()
    with pytest.raises(InvalidPayload) as raised:
        use_case.receive("events", *event({"type": "run.finished"}, msg_id="msg_bad"))
    row = sink.rows[("events", "msg_bad")]
    assert raised.value.extra["event_id"] == row["id"]
    assert (row["type"], row["status"]) == ("run.finished", "rejected") and row["last_error"]
    assert woken == []


def test_a_disabled_source_and_a_non_json_body_are_refused_before_anything_is_stored():
    use_case, sink, _ = intake()
    with pytest.raises(SourceDisabled):
        use_case.receive("mlflow", b"{}", {"Content-Type": "application/json"})
    body, headers = event({"type": "run.finished", "run_id": "r1"})
    with pytest.raises(UnsupportedMediaType):
        use_case.receive("events", body, {**headers, "Content-Type": "text/plain"})
    assert sink.rows == {}


def test_a_stale_databricks_event_is_refused_and_not_stored():
    use_case, sink, _ = intake()
    payload = {"event": "MODEL_VERSION_CREATED", "event_timestamp": (NOW - 301) * 1000,
               "model_name": "m", "version": "1"}
    body, headers = databricks_delivery("dbx", payload)
    with pytest.raises(StaleTimestamp):
        use_case.receive("databricks", body, headers)
    assert sink.rows == {}
    body, headers = databricks_delivery("dbx", {**payload, "event_timestamp": NOW * 1000})
    assert use_case.receive("databricks", body, headers).status == "queued"
