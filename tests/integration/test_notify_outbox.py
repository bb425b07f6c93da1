"""The outbox and the Notifier over the real SQLite store, with HTTP faked by ``responses``.

Time is a fake clock the tests move by hand: nothing sleeps, and every
"how long does it wait" is read from the store as ``next_due_in()``.

Status matrix (the published Slack, Teams and Standard Webhooks behaviour):

==========================  ========  ================================================
answer                      retried?  wait
==========================  ========  ================================================
200 ok / 202 / other 2xx    no        — (sent)
400, 403, 404, 410          no        — (failed, reason recorded)
3xx                         no        — (failed: a webhook URL must not redirect)
429 + Retry-After: N        yes       N s (HTTP date too); attempt refunded
429 without Retry-After     yes       30 s
500, timeout, refused       yes       2 s * 2^(attempt-1) * jitter in [0.5, 1], <= 600 s;
                                      failed after max_attempts
==========================  ========  ================================================
"""

from __future__ import annotations

import io
import json
import threading
from datetime import UTC, datetime

import pytest
import requests
import responses

from handler.channels import ChannelConfig
from handler.notify.outbox import Notifier
from handler.notify.send import message_id
from handler.outcomes import AliasChange, Outcome
from handler.signatures import verify_standard
from handler.store import Store
from handler.store.outbox import enqueue, outbox_key
from handler.verdict import GateResult
from tests.support.store_queries import enqueue_outcome

SLACK_URL = "https://hooks.slack.com/services/T000/B000/slacksecret"
SLACK_URL_2 = "https://hooks.slack.com/services/T000/B111/othersecret"
TEAMS_URL = "https://prod-01.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke"
HOOK_URL = "https://audit.example.com/reghook"
HOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
START = 1_800_000_000.0

CHANNELS = {
    "team": ChannelConfig(type="slack", url=SLACK_URL),
    "other-team": ChannelConfig(type="slack", url=SLACK_URL_2),
    "ms": ChannelConfig(type="teams", url=TEAMS_URL),
    "audit": ChannelConfig(type="webhook", url=HOOK_URL, secret=HOOK_SECRET),
    "stdout": ChannelConfig(type="log"),
}
URLS = {"team": SLACK_URL, "ms": TEAMS_URL, "audit": HOOK_URL}


class FakeClock:
    """Unix seconds that only move when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def outcome(version: str = "3", kind: str = "registered") -> Outcome:
    return Outcome(kind=kind, model="churn_model", version=version, event_id="evt_1",
                   run_id="4f6c2d1e", gates=(GateResult("recall", True, 0.81, ">=0.70"),),
                   alias_changes=(AliasChange("staging", version),))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_notifier(store: Store, clock: FakeClock):
    def make(**overrides) -> Notifier:
        options = {"clock": clock, "jitter": lambda: 1.0, "stdout": io.StringIO()}
        return Notifier(store, {**CHANNELS, **overrides.pop("channels", {})},
                        **{**options, **overrides})
    return make


def queue(store: Store, clock: FakeClock, *channels: str, version: str = "3") -> None:
    enqueue_outcome(store, outcome(version), list(channels),
                    now=datetime.fromtimestamp(clock(), UTC))


def only_row(store: Store) -> dict:
    (row,) = store.list_outbox()
    return row


# --- the status matrix ------------------------------------------------------------------

TIMEOUT = requests.exceptions.ReadTimeout("Read timed out. (read timeout=10)")
REFUSED = requests.exceptions.ConnectionError("[Errno 111] Connection refused")


@pytest.mark.parametrize(("channel", "answer", "status", "wait_s", "error"), [
    pytest.param("team", {"status": 200, "body": "ok"}, "sent", None, None, id="slack-200-ok"),
    pytest.param("team", {"status": 200, "body": "no_text"}, "sent", None, None,
                 id="slack-200-not-ok-still-sent"),
    pytest.param("ms", {"status": 202}, "sent", None, None, id="teams-202"),
    pytest.param("audit", {"status": 204}, "sent", None, None, id="webhook-204"),
    pytest.param("team", {"status": 400, "body": "invalid_blocks"}, "failed", None,
                 "HTTP 400: invalid_blocks", id="400"),
    pytest.param("team", {"status": 403, "body": "action_prohibited"}, "failed", None,
                 "HTTP 403: action_prohibited", id="403"),
    pytest.param("team", {"status": 404, "body": "channel_not_found"}, "failed", None,
                 "HTTP 404: channel_not_found", id="404"),
    pytest.param("team", {"status": 410, "body": "channel_is_archived"}, "failed", None,
                 "HTTP 410: channel_is_archived", id="410"),
    pytest.param("ms", {"status": 302, "headers": {"Location": "https://elsewhere.example/"}},
                 "failed", None, "redirects", id="302-not-followed"),
    pytest.param("team", {"status": 429, "headers": {"Retry-After": "7"}}, "pending", 7.0,
                 "HTTP 429", id="429-retry-after"),
    pytest.param("team", {"status": 429}, "pending", 30.0, "HTTP 429", id="429-no-retry-after"),
    pytest.param("team", {"status": 429, "headers": {"Retry-After": "soon"}}, "pending", 30.0,
                 "HTTP 429", id="429-unparseable-retry-after"),
    pytest.param("team", {"status": 429, "headers": {
        "Retry-After": "Fri, 15 Jan 2027 08:00:45 GMT"}}, "pending", 45.0, "HTTP 429",
        id="429-retry-after-http-date"),
    pytest.param("team", {"status": 500, "body": "internal_error"}, "pending", 2.0,
                 "HTTP 500: internal_error", id="500"),
    pytest.param("ms", {"status": 503}, "pending", 2.0, "HTTP 503", id="503"),
    pytest.param("team", {"body": TIMEOUT}, "pending", 2.0, "timeout", id="timeout"),
    pytest.param("audit", {"body": REFUSED}, "pending", 2.0, "could not connect",
                 id="connection-refused"),
])
@responses.activate
def test_status_matrix(store, clock, make_notifier, channel, answer, status, wait_s, error):
    if "Retry-After" in answer.get("headers", {}) and "GMT" in answer["headers"]["Retry-After"]:
        clock.now = datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC).timestamp()
    responses.add(responses.POST, URLS[channel], **answer)
    queue(store, clock, channel)
    notifier = make_notifier()

    assert notifier.send_due() == 1
    assert len(responses.calls) == 1
    row = only_row(store)
    assert row["status"] == status
    assert notifier.next_due_in() == wait_s
    if error is None:
        assert row["last_error"] is None and row["sent_at"] is not None
    else:
        assert error in row["last_error"]
    # Nothing is re-sent before it is due, and a settled message is never re-sent.
    clock.advance((wait_s or 1000) - 0.5)
    assert notifier.send_due() == 0 and len(responses.calls) == 1


@responses.activate
def test_outages_back_off_exponentially_then_fail_after_max_attempts(store, clock,
                                                                     make_notifier):
    responses.add(responses.POST, SLACK_URL, status=500)
    queue(store, clock, "team")
    notifier = make_notifier(max_attempts=5, backoff_base_s=2.0, backoff_max_s=10.0)
    waits = []
    while (due := notifier.next_due_in()) is not None:
        clock.advance(due)
        notifier.send_due()
        waits.append(notifier.next_due_in())
    assert waits == [2.0, 4.0, 8.0, 10.0, None]  # capped at backoff_max_s
    assert len(responses.calls) == 5
    row = only_row(store)
    assert row["status"] == "failed"
    assert row["last_error"] == "gave up after 5 attempts; last: HTTP 500"


def test_backoff_jitter_stays_between_half_and_the_full_delay(store, clock, make_notifier):
    low, high = make_notifier(jitter=lambda: 0.0), make_notifier(jitter=lambda: 1.0)
    assert [low.backoff_s(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert [high.backoff_s(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]


@responses.activate
def test_throttling_waits_as_asked_without_using_up_attempts(store, clock, make_notifier):
    for _ in range(6):
        responses.add(responses.POST, SLACK_URL, status=429, headers={"Retry-After": "3"})
    responses.add(responses.POST, SLACK_URL, status=200, body="ok")
    queue(store, clock, "team")
    notifier = make_notifier(max_attempts=2)
    for _ in range(6):
        notifier.send_due()
        assert notifier.next_due_in() == 3.0
        clock.advance(3)
    notifier.send_due()
    row = only_row(store)
    assert (row["status"], row["attempts"], row["throttled"]) == ("sent", 1, 6)


@responses.activate
def test_throttling_is_still_bounded(store, clock, make_notifier):
    responses.add(responses.POST, SLACK_URL, status=429, headers={"Retry-After": "1"})
    queue(store, clock, "team")
    notifier = make_notifier(max_throttled=3)
    for _ in range(5):
        clock.advance(notifier.next_due_in() or 0)
        notifier.send_due()
    assert len(responses.calls) == 3
    row = only_row(store)
    assert row["status"] == "failed" and "3 throttled attempts" in row["last_error"]


def test_a_removed_channel_fails_its_messages_with_a_clear_reason(store, clock, make_notifier):
    queue(store, clock, "retired-channel")
    make_notifier().send_due()
    row = only_row(store)
    assert row["status"] == "failed"
    assert row["last_error"] == ("channel 'retired-channel' is not configured any more "
                                 "(removed from the policy?); not sent")


# --- exactly once ---------------------------------------------------------------------------


@responses.activate
def test_a_replayed_outcome_is_queued_once_and_posted_once(store, clock, make_notifier):
    responses.add(responses.POST, SLACK_URL, status=200, body="ok")
    now = datetime.fromtimestamp(clock(), UTC)
    assert enqueue_outcome(store, outcome(), ["team", "stdout"], now=now) == 2
    assert enqueue_outcome(store, outcome(), ["team", "stdout"], now=now) == 0  # the replay
    with store.tx.write() as connection:  # governance's path, inside its own transaction
        assert not enqueue(connection, sqlite=True, channel="team", outcome=outcome(), now=now)
    notifier = make_notifier()
    assert notifier.send_due() == 2
    clock.advance(3600)
    assert notifier.send_due() == 0
    assert len(responses.calls) == 1
    assert [r["status"] for r in store.list_outbox()] == ["sent", "sent"]


def test_each_channel_model_version_and_outcome_is_its_own_message(store, clock):
    now = datetime.fromtimestamp(clock(), UTC)
    assert enqueue_outcome(store, outcome("3"), ["team", "ms"], now=now) == 2
    assert enqueue_outcome(store, outcome("4"), ["team"], now=now) == 1
    assert enqueue_outcome(store, outcome("3", kind="promoted"), ["team"], now=now) == 1
    assert len(store.list_outbox()) == 4


def test_a_message_queued_in_a_rolled_back_decision_never_exists(store, clock):
    with pytest.raises(RuntimeError), store.tx.write() as connection:
        enqueue(connection, sqlite=True, channel="team", outcome=outcome(),
                now=datetime.fromtimestamp(clock(), UTC))
        raise RuntimeError("the registry write after it failed")
    assert store.list_outbox() == []


class Killed(BaseException):
    """The process dies: not an Exception, so nothing in the notifier catches it."""


class DiesAfterPosting(requests.Session):
    def post(self, *args, **kwargs):  # type: ignore[override]
        super().post(*args, **kwargs)
        raise Killed


@responses.activate
def test_a_sender_killed_after_posting_causes_at_most_one_duplicate(store, clock,
                                                                    make_notifier):
    responses.add(responses.POST, HOOK_URL, status=200)
    queue(store, clock, "audit")
    with pytest.raises(Killed):
        make_notifier(session=DiesAfterPosting(), lease_s=60).send_due()
    assert only_row(store)["status"] == "sending"

    survivor = make_notifier(lease_s=60)
    clock.advance(59)
    assert survivor.send_due() == 0  # the dead sender's lease still holds
    clock.advance(2)
    assert survivor.send_due() == 1
    clock.advance(3600)
    assert survivor.send_due() == 0
    assert len(responses.calls) == 2  # the original and one duplicate, never more
    assert only_row(store)["status"] == "sent"
    # Both posts carry the same webhook-id, so the receiver can drop the duplicate.
    ids = {call.request.headers["webhook-id"] for call in responses.calls}
    assert ids == {message_id(outbox_key("audit", outcome()))}


def test_a_sender_whose_lease_ran_out_cannot_overwrite_the_takeover(store, clock):
    queue(store, clock, "team")
    at = lambda: datetime.fromtimestamp(clock(), UTC)  # noqa: E731
    (late,) = store.claim_due(now=at(), lease_s=60)
    clock.advance(61)
    (takeover,) = store.claim_due(now=at(), lease_s=60)
    assert takeover.id == late.id and takeover.lease_owner != late.lease_owner
    assert store.mark_sent(takeover.id, takeover.lease_owner, now=at())
    assert not store.mark_failed(late.id, late.lease_owner, error="HTTP 500")
    assert only_row(store)["status"] == "sent"


def claim_everything_concurrently(store: Store, now: datetime) -> list[list[int]]:
    claims: list[list[int]] = [[] for _ in range(4)]

    def worker(mine: list[int]) -> None:
        while batch := store.claim_due(now=now, limit=3):
            mine.extend(m.id for m in batch)

    threads = [threading.Thread(target=worker, args=(c,)) for c in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return claims


def assert_no_message_claimed_twice(store: Store) -> None:
    now = datetime.fromtimestamp(START, UTC)
    for version in range(40):
        enqueue_outcome(store, outcome(str(version)), ["team"], now=now)
    claims = claim_everything_concurrently(store, now)
    every = [i for c in claims for i in c]
    assert len(every) == len(set(every)) == 40


def test_concurrent_senders_never_claim_the_same_message_on_sqlite(store):
    assert_no_message_claimed_twice(store)


@pytest.mark.postgres
def test_concurrent_senders_never_claim_the_same_message_on_postgres(postgres_url):
    store = Store.from_url(postgres_url)
    try:
        assert_no_message_claimed_twice(store)
    finally:
        store.dispose()


# --- pacing, channels ----------------------------------------------------------------------


@responses.activate
def test_slack_gets_about_one_message_per_second_per_webhook(store, clock, make_notifier):
    responses.add(responses.POST, SLACK_URL, status=200, body="ok")
    responses.add(responses.POST, SLACK_URL_2, status=200, body="ok")
    for version in ("1", "2", "3"):
        queue(store, clock, "team", version=version)
    queue(store, clock, "other-team")
    notifier = make_notifier()
    sent_at: list[tuple[float, str]] = []
    while (due := notifier.next_due_in()) is not None:
        clock.advance(due)
        before = len(responses.calls)
        notifier.send_due()
        sent_at += [(clock(), c.request.url) for c in responses.calls[before:]]
    assert [t - START for t, url in sent_at if url == SLACK_URL] == [0.0, 1.0, 2.0]
    assert [t - START for t, url in sent_at if url == SLACK_URL_2] == [0.0]  # its own pace
    versions = [json.loads(c.request.body)["text"].split()[2] for c in responses.calls
                if c.request.url == SLACK_URL]
    assert versions == ["v1", "v2", "v3"]  # deferral keeps the order


@responses.activate
def test_a_429_holds_back_every_message_to_that_webhook(store, clock, make_notifier):
    responses.add(responses.POST, SLACK_URL, status=429, headers={"Retry-After": "10"})
    responses.add(responses.POST, SLACK_URL, status=200, body="ok")
    queue(store, clock, "team", version="1")
    queue(store, clock, "team", version="2")
    notifier = make_notifier()
    notifier.send_due()
    clock.advance(5)
    notifier.send_due()
    assert len(responses.calls) == 1
    clock.advance(5)
    notifier.send_due()
    assert len(responses.calls) == 2


@responses.activate
def test_webhook_channel_is_signed_so_the_receiver_can_verify_it(store, clock, make_notifier):
    responses.add(responses.POST, HOOK_URL, status=200)
    queue(store, clock, "audit")
    make_notifier().send_due()
    request = responses.calls[0].request
    verify_standard(request.body, msg_id=request.headers["webhook-id"],
                    timestamp=request.headers["webhook-timestamp"],
                    signature=request.headers["webhook-signature"], secrets=[HOOK_SECRET],
                    now=clock(), tolerance_s=300)
    body = json.loads(request.body)
    assert body["type"] == "reghook.registered"
    assert Outcome.from_json(body["data"]) == outcome()


def test_log_channel_writes_one_json_line_per_message(store, clock, make_notifier):
    out = io.StringIO()
    queue(store, clock, "stdout", version="1")
    queue(store, clock, "stdout", version="2")
    assert make_notifier(stdout=out).send_due() == 2
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["data"]["version"] for line in lines] == ["1", "2"]


def test_next_due_in_is_none_when_nothing_is_pending(store, clock, make_notifier):
    notifier = make_notifier()
    assert notifier.next_due_in() is None
    queue(store, clock, "stdout")
    assert notifier.next_due_in() == 0.0
    notifier.send_due()
    assert notifier.next_due_in() is None
