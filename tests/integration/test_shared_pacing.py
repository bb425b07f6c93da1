"""Two workers, one Slack webhook: together they keep its pace and honour its 429.

Each worker is a real ``WorkerRuntime`` draining its notifications in its own
thread, with its own engine and its own Notifier: the only thing they share
is the store, as on two hosts. The webhook is a local HTTP server that
records when each request arrives and answers the second one ``429`` with
``Retry-After: 2``. Slack's limit is about one message per second per
webhook; each worker alone keeps it, so before the pace moved into the store
the two sent in pairs (gaps of a few milliseconds) and a 429 seen by one
did not hold back the other.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from handler.channels import ChannelConfig
from handler.governance.results import done
from handler.notify.outbox import PACE_S, Notifier
from handler.outcomes import Outcome
from handler.settings import Settings
from handler.store import Store
from handler.worker.runtime import WorkerRuntime

MESSAGES = 4
RETRY_AFTER_S = 2.0
THROTTLED_REQUEST = 2  # the webhook answers this request (1-based) with a 429
# Leave to send is spaced by the store's clock; a request reaches the server a
# little after its leave (rendering, the HTTP call, a busy machine's
# scheduling). Half the interval covers that: two uncoordinated workers send
# in pairs, milliseconds apart, far below it.
SLACK_INTERVAL_S = PACE_S["slack"]
ARRIVAL_SLACK_S = SLACK_INTERVAL_S / 2


class FakeSlack(BaseHTTPRequestHandler):
    """Records each POST's arrival; the n-th answers 429 with Retry-After."""

    arrivals: list[tuple[float, int]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.lock:
            number = len(self.arrivals) + 1
            status = 429 if number == THROTTLED_REQUEST else 200
            self.arrivals.append((time.time(), status))
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", f"{RETRY_AFTER_S:g}")
        body = b"ok" if status == 200 else b"rate_limited"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slack_url() -> Iterator[str]:
    FakeSlack.arrivals = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSlack)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/shared-pace"
    server.shutdown()
    server.server_close()


def run_two_workers(url: str, database_url: str) -> list[dict]:
    settings = Settings(database_url=database_url)
    queued = Store.from_url(database_url)
    for version in range(1, MESSAGES + 1):
        queued.record(outcomes=[("team", Outcome("registered", "churn", str(version),
                                                 f"evt_{version}"))])
    stores = [Store.from_url(database_url) for _ in range(2)]
    runtimes = [WorkerRuntime(store, settings, lambda event: done(),
                              Notifier(store, {"team": ChannelConfig(type="slack", url=url)}))
                for store in stores]
    threads = [threading.Thread(target=runtime.drain, kwargs={"notify_wait_s": 30})
               for runtime in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        return queued.list_outbox(model="churn", limit=100)
    finally:
        for store in (queued, *stores):
            store.dispose()


def assert_paced_together(messages: list[dict]) -> None:
    assert {m["status"] for m in messages} == {"sent"}, messages
    arrivals = sorted(FakeSlack.arrivals)
    assert len(arrivals) == MESSAGES + 1  # each message once, plus the throttled attempt
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(arrivals)]
    assert min(gaps) >= SLACK_INTERVAL_S - ARRIVAL_SLACK_S, gaps
    assert statistics.median(gaps) >= SLACK_INTERVAL_S * 0.95, gaps
    throttled_at = next(at for at, status in arrivals if status == 429)
    after = [at for at, _ in arrivals if at > throttled_at]
    # Neither worker sends again until the hold is over.
    assert after[0] - throttled_at >= RETRY_AFTER_S - ARRIVAL_SLACK_S, gaps
    assert sum(m["throttled"] for m in messages) == 1


@pytest.mark.slow
def test_two_workers_keep_one_slack_webhooks_pace_together_sqlite(slack_url, sqlite_url):
    assert_paced_together(run_two_workers(slack_url, sqlite_url))


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_keep_one_slack_webhooks_pace_together_postgres(slack_url, postgres_url):
    assert_paced_together(run_two_workers(slack_url, postgres_url))


# --- the store's decisions, on a clock the test holds still ------------------------------

NOW = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


def racing_for_one_slot(database_url: str, racers: int = 8) -> list[datetime | None]:
    """``racers`` workers ask for leave at the same instant; what each was told."""
    stores = [Store.from_url(database_url) for _ in range(racers)]
    answers: list[datetime | None] = []
    start = threading.Barrier(racers)

    def ask(store: Store) -> None:
        start.wait()
        answers.append(store.take_slot("k", now=NOW, interval_s=1.0))

    threads = [threading.Thread(target=ask, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for store in stores:
        store.dispose()
    return answers


def assert_one_leave_and_distinct_slots(answers: list[datetime | None]) -> None:
    assert answers.count(None) == 1
    booked = sorted(slot for slot in answers if slot is not None)
    assert booked == [NOW + timedelta(seconds=n) for n in range(1, len(answers))]


def test_one_leave_per_slot_and_a_slot_each_for_the_rest_sqlite(sqlite_url):
    assert_one_leave_and_distinct_slots(racing_for_one_slot(sqlite_url))


@pytest.mark.postgres
def test_one_leave_per_slot_and_a_slot_each_for_the_rest_postgres(postgres_url):
    assert_one_leave_and_distinct_slots(racing_for_one_slot(postgres_url))


def test_a_hold_defers_leave_and_bookings_to_its_end(store):
    assert store.take_slot("k", now=NOW, interval_s=1.0) is None
    store.hold_channel("k", until=NOW + timedelta(seconds=10))
    store.hold_channel("k", until=NOW + timedelta(seconds=4))  # a shorter hold never shortens it
    assert store.take_slot("k", now=NOW + timedelta(seconds=5), interval_s=1.0) == (
        NOW + timedelta(seconds=10))
    assert store.take_slot("k", now=NOW + timedelta(seconds=10), interval_s=1.0) is None
    assert store.take_slot("other", now=NOW, interval_s=1.0) is None  # its own pace
