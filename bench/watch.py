"""Registry watch cost per look, in MLflow REST calls, against a naive look in the same run.

    python bench/watch.py            (make bench-watch; about 1 minute)

A local ``mlflow server`` holds 1 model with 40 versions and 100 models with
5 versions each (policy models, each with one passed version awaiting
approval). For each scenario the watch looks once with no change and once
after one change (a version registered by hand in one model, and an alias
moved); the baseline is the naive look a watch without memory would make —
list every version and read each one for its tags and aliases — counted on
the same server in the same run. ``RATIO`` = watch calls / naive calls.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _calls import CallCounter
from mlflow import MlflowClient

from handler.demo.server import MlflowServer
from handler.governance.context import Context
from handler.governance.watch import look
from handler.policy import PolicyFile
from handler.records import AuditEntry
from handler.registry import MlflowRegistry
from handler.store import Store, upgrade

SCENARIOS = (("1 model", 1, 40), ("100 models", 100, 5))


def populate(client: MlflowClient, store: Store, models: int, versions: int) -> list[str]:
    """Registered models with versions; v1 of each passed (reghook's record), awaiting approval."""
    names = [f"bench_{uuid.uuid4().hex[:6]}_{i}" for i in range(models)]
    for name in names:
        client.create_registered_model(name)
        for _ in range(versions):
            client.create_model_version(name, "s3://bench/model", run_id=None)
        store.record([AuditEntry("validated", name, "1", None, detail={"status": "passed"})])
    return names


def naive_look(client: MlflowClient, name: str) -> None:
    """What a watch without memory reads: every version, each with tags and aliases."""
    for mv in client.search_model_versions(f"name='{name}'"):
        client.get_model_version(name, mv.version)


def counted(counter: CallCounter, label: str, work) -> int:  # type: ignore[no-untyped-def]
    scope = counter.open(label=label)
    try:
        work()
    finally:
        counter.close(scope)
    return sum(scope.calls.values())


def scenario(server: MlflowServer, work: Path, label: str, models: int, versions: int
             ) -> list[tuple[str, int, int]]:
    """(case, watch calls, naive calls) with no change and with one change."""
    client = MlflowClient(server.url)
    url = f"sqlite:///{work / (uuid.uuid4().hex[:6] + '.db')}"
    upgrade(url)
    store = Store.from_url(url)
    names = populate(client, store, models, versions)
    policies = PolicyFile.model_validate({"models": [
        {"name": n, "promotion": {"alias": "champion"}} for n in names]})
    ctx = Context(registry=MlflowRegistry(tracking_uri=server.url), ledger=store,
                  policies=policies, owner="bench")
    counter = CallCounter(server.url)
    rows = []
    with counter.installed():
        counted(counter, "baseline", lambda: [look(ctx, store, p) for p in policies.models])
        for case in ("no change", "one change"):
            if case == "one change":
                client.create_model_version(names[0], "s3://bench/model", run_id=None)
                client.set_registered_model_alias(names[0], "shadow", "2")
            changes: list[object] = []

            def watch_once(found: list[object] = changes) -> None:
                found.extend(c for p in policies.models for c in look(ctx, store, p))

            calls = counted(counter, case, watch_once)
            naive = counted(counter, "naive", lambda: [naive_look(client, n) for n in names])
            rows.append((f"{label}, {case} ({len(changes)} changes)", calls, naive))
    store.dispose()
    return rows


def main() -> None:
    """Run both scenarios and print the table and the ratios."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # one line per created version
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        server = MlflowServer(work / "mlflow")
        server.start()
        try:
            rows = [row for label, models, versions in SCENARIOS
                    for row in scenario(server, work, label, models, versions)]
        finally:
            server.stop()
    print(f"{'case':<40} {'watch calls':>12} {'naive calls':>12} {'per model':>10}")
    for case, calls, naive in rows:
        models = 100 if case.startswith("100") else 1
        print(f"{case:<40} {calls:>12} {naive:>12} {calls / models:>10.1f}")
    for case, calls, naive in rows:
        print(f"RATIO watch/naive {case}: {calls / naive:.3f}")


if __name__ == "__main__":
    main()
