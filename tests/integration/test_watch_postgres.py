"""The registry watch with several workers on PostgreSQL: one look per interval, one event per change."""

from __future__ import annotations

import threading

import pytest

from handler.governance.context import Context
from handler.governance.watch import watch
from handler.policy import PolicyFile
from handler.store import Store
from tests.fakes import FakeRegistry

pytestmark = pytest.mark.postgres
MODEL = "workspace.default.quickbite_churn_predictor"


def worker(store_url: str, registry: FakeRegistry, owner: str) -> tuple[Context, Store]:
    store = Store.from_url(store_url)
    policies = PolicyFile.model_validate({"models": [{"name": MODEL}]})
    return Context(registry=registry, ledger=store, policies=policies, owner=owner), store


def test_concurrent_workers_claim_one_look_per_interval(postgres_url):
    stores = [Store.from_url(postgres_url) for _ in range(6)]
    start, claimed = threading.Barrier(len(stores)), []

    def claim(store: Store, owner: str) -> None:
        start.wait()
        claimed.append(store.claim_watch_look(MODEL, owner, every_s=60))

    threads = [threading.Thread(target=claim, args=(s, f"w{i}")) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == [False] * 5 + [True]
    for store in stores:
        store.dispose()


def test_a_change_seen_by_every_worker_is_stored_once_and_survives_a_restart(postgres_url):
    registry = FakeRegistry(unity_catalog=True)
    registry.add_run("r1", metrics={"recall": 0.8})
    registry.register_by_hand(MODEL, "r1")
    (first, first_store), (second, second_store) = (worker(postgres_url, registry, "w1"),
                                                    worker(postgres_url, registry, "w2"))
    assert watch(first, first_store, first_store, every_s=0) == []  # the baseline
    registry.register_by_hand(MODEL, "r1")  # v2, by hand
    seen = [watch(ctx, store, store, every_s=0) for ctx, store in ((first, first_store),
                                                                   (second, second_store))]
    stored = [c for changes in seen for c in changes if c.new]
    assert [(c.type, c.data["version"]) for c in stored] == [("model_version.created", "2")]
    assert first_store.count_events() == 1
    first_store.dispose()
    again, again_store = worker(postgres_url, registry, "w3")  # a restarted worker
    assert watch(again, again_store, again_store, every_s=0) == []
    for store in (second_store, again_store):
        store.dispose()
