"""Store benchmark: every read of the admin API at N stored events against a 1,000-event store.

    python bench/store.py                  # or: make bench-store  (1,000,000 events; minutes)
    python bench/store.py --events 100000  # a smaller store
    python bench/store.py --quick          # smoke run: 20,000 events, 50 requests a read

Per backend (SQLite in a temporary folder, PostgreSQL in a throwaway database
on --postgres), fills a 1,000-event store and an N-event store with bulk
inserts through the store's tables (executemany on SQLite, COPY on
PostgreSQL: the fill rate), sends a small sample through the real
``/webhooks/mlflow`` route (the intake rate), then times each read through
the real Flask app (test client) and prints p99 of each and its ratio to the
small store. PostgreSQL is read straight after the load and again after
``ANALYZE``. Targets: p99 ≤ 50 ms, ratio ≤ 3.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handler.settings import Settings
from handler.signatures import sign_mlflow
from handler.store import Store, upgrade
from handler.web import create_app

TOKEN, SECRET, MODEL = "bench-admin", "bench-secret", "bench.default.churn"
P99_MS_MAX, RATIO_MAX = 50.0, 3.0
# What a long-lived store holds: mostly MLflow deliveries, mostly done or ignored.
SOURCES = [("mlflow", 60), ("databricks", 12), ("events", 15), ("watch", 8), ("cli", 3),
           ("replay", 2)]
TYPES = {"mlflow": [("model_version.created", 30), ("model_version_tag.set", 55),
                    ("model_version_alias.created", 15)],
         "databricks": [("MODEL_VERSION_CREATED", 50), ("MODEL_VERSION_TAG_SET", 50)],
         "events": [("run.finished", 100)], "watch": [("model_version.created", 40),
                                                       ("model_version_tag.set", 60)],
         "cli": [("promote.requested", 50), ("rollback.requested", 50)],
         "replay": [("model_version.created", 100)]}
STATUSES = [("done", 78), ("ignored", 17), ("failed", 2), ("rejected", 1), ("queued", 2)]
EVENT_COLUMNS = ("id", "source", "type", "idempotency_key", "status", "received_at", "updated_at",
                 "attempts", "body", "headers")
FILL_CACHE_KIB = 1_000_000  # SQLite page cache of the fill's connection: 1 GB
VERSIONS = 3000  # of MODEL: its history has about 4 audit entries and one alias move each


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _event_rows(count: int, rng: random.Random, start: datetime) -> Iterator[tuple[Any, ...]]:
    """``count`` events a year apart at most, oldest first, as the intake stores them."""
    step = timedelta(days=365) / max(count, 1)
    body = json.dumps({"entity": "model_version", "action": "created", "data": {"name": MODEL}})
    for i in range(count):
        source = _pick(rng, SOURCES)
        at = start + step * i
        yield ("evt_" + uuid.UUID(int=rng.getrandbits(128)).hex, source, _pick(rng, TYPES[source]),
               f"bulk-{i}", _pick(rng, STATUSES), at, at, 1, body, "{}")


def _timeline_rows(start: datetime) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    entries, moves = [], []
    for version in range(1, VERSIONS + 1):
        at = start + timedelta(minutes=version)
        for kind in ("registered", "validated", "tagged", "notified"):
            entries.append((at, kind, MODEL, str(version), None, None, "reghook", "{}"))
        moves.append((MODEL, "staging", str(version), str(version - 1), at, "reghook", None))
    return entries, moves


def _sqlite_value(value: Any) -> Any:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


def _bulk(store: Store, table: str, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]],
          chunk: int = 50_000) -> int:
    """Insert ``rows`` in large transactions on the driver's connection; how many."""
    done, raw = 0, store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if store.tx.sqlite:
            # For this connection only (the intake's run as configured): a cache
            # that holds the nine indexes, so random event ids do not evict
            # pages on every insert, and no fsync per chunk. The store's own
            # connections keep their settings; the intake rate shows those.
            cursor.execute(f"PRAGMA cache_size = -{FILL_CACHE_KIB}")
            cursor.execute("PRAGMA synchronous = OFF")
        while True:
            batch = [row for _, row in zip(range(chunk), rows, strict=False)]
            if not batch:
                break
            if store.tx.sqlite:
                # The store's connections run in autocommit (engine.py issues BEGIN
                # itself); without this each row would be its own transaction.
                cursor.execute("BEGIN")
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                                   [tuple(_sqlite_value(v) for v in row) for row in batch])
            else:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row(row)
            raw.commit()
            done += len(batch)
    finally:
        raw.close()
    return done


def fill(store: Store, count: int, seed: int = 7) -> dict[str, Any]:
    """Bulk-load ``count`` events and the model's timeline; the fill rate."""
    start = datetime.now(UTC) - timedelta(days=366)
    began = time.perf_counter()
    _bulk(store, "events", EVENT_COLUMNS, _event_rows(count, random.Random(seed), start))
    seconds = time.perf_counter() - began
    entries, moves = _timeline_rows(start)
    _bulk(store, "audit", ("at", "kind", "model", "version", "alias", "event_id", "actor",
                           "detail"), iter(entries))
    _bulk(store, "alias_history", ("model", "alias", "version", "previous_version", "at",
                                   "actor", "reason"), iter(moves))
    return {"events": count, "fill_s": round(seconds, 1),
            "fill_per_s": round(count / seconds) if seconds else None}


def intake_rate(client: Any, count: int) -> float:
    """Signed MLflow deliveries per second through ``/webhooks/mlflow`` (all must be 202)."""
    began = time.perf_counter()
    for version in range(count):
        delivery, timestamp = str(uuid.uuid4()), int(time.time())
        body = json.dumps({"entity": "model_version", "action": "created",
                           "timestamp": datetime.now(UTC).isoformat(),
                           "data": {"name": MODEL, "version": str(VERSIONS + version),
                                    "run_id": uuid.uuid4().hex, "source": "models:/m-1",
                                    "tags": {}, "description": None}}).encode()
        response = client.post("/webhooks/mlflow", data=body, headers={
            "Content-Type": "application/json", "X-MLflow-Delivery-Id": delivery,
            "X-MLflow-Timestamp": str(timestamp),
            "X-MLflow-Signature": sign_mlflow(SECRET, delivery, timestamp, body)})
        assert response.status_code == 202, response.get_data(as_text=True)
    return round(count / (time.perf_counter() - began))


def reads(client: Any, auth: dict[str, str]) -> dict[str, str]:
    """Every read to time, by name: list, each filter, pairs, a deep page, one event, history."""
    first = client.get("/api/events?limit=500", headers=auth).json["events"]
    middle = client.get("/api/events?status=done&limit=1000", headers=auth).json["events"][-1]
    since = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    history = client.get(f"/api/models/{MODEL}/history?limit=100", headers=auth).json
    return {
        "list": "/api/events?limit=50",
        "list, page after 1000": f"/api/events?limit=50&before={middle['id']}",
        "status=done": "/api/events?status=done",
        "status=failed": "/api/events?status=failed",
        "source=cli": "/api/events?source=cli",
        "type=run.finished": "/api/events?type=run.finished",
        "since=30d": f"/api/events?since={since}",
        "source+type": "/api/events?source=mlflow&type=model_version.created",
        "status+source": "/api/events?status=failed&source=mlflow",
        "status+type": "/api/events?status=ignored&type=model_version_tag.set",
        "status+since": f"/api/events?status=failed&since={since}",
        "status+source+type": "/api/events?status=rejected&source=watch&type=model_version.created",
        "one event": f"/api/events/{first[-1]['id']}",
        "history": f"/api/models/{MODEL}/history?limit=100",
        "history, next page": f"/api/models/{MODEL}/history?limit=100&before={history['next']}",
        "compare 2 versions": f"/api/models/{MODEL}/versions?version={VERSIONS - 1}"
                              f"&version={VERSIONS}",
    }


def p99s(client: Any, auth: dict[str, str], paths: dict[str, str], requests: int) -> dict[str, float]:
    """p99 in ms of ``requests`` GETs of each path, in turns (so drift hits every read alike)."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(requests):
        for name, path in paths.items():
            began = time.perf_counter()
            response = client.get(path, headers=auth)
            times[name].append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, (path, response.json)
    return {name: round(sorted(t)[max(int(len(t) * 0.99) - 1, 0)], 2) for name, t in times.items()}


def measure(url: str, count: int, requests: int, intake: int) -> tuple[dict[str, Any], Any]:
    """Fill a store at ``url``, measure intake and reads; (figures, the store's app client)."""
    upgrade(url)
    store = Store.from_url(url)
    figures = fill(store, count)
    settings = Settings(database_url=url, admin_token=TOKEN, mlflow_secrets=SECRET)
    client = create_app(settings, store).test_client()
    figures["intake_per_s"] = intake_rate(client, intake)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    figures["p99_ms"] = p99s(client, auth, reads(client, auth), requests)
    return figures, (store, client, auth)


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A throwaway database on the server of ``admin_url``; dropped afterwards."""
    import psycopg

    name = f"reghook_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backend(name: str, urls: Callable[[str], Any], args: argparse.Namespace) -> dict[str, Any]:
    """Both stores of one backend; PostgreSQL read again after ANALYZE."""
    out: dict[str, Any] = {}
    with urls("small") as small_url, urls("large") as large_url:
        print(f"[{name}] 1,000-event store", flush=True)
        out["small"], small = measure(small_url, 1000, args.requests, args.intake)
        print(f"[{name}] {args.events:,}-event store (fill {args.events:,})", flush=True)
        out["large"], large = measure(large_url, args.events, args.requests, args.intake)
        print(f"[{name}] filled at {out['large']['fill_per_s']:,} events/s", flush=True)
        if name == "postgresql":
            for store, *_ in (small, large):
                with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.exec_driver_sql("ANALYZE")
            out["small"]["p99_ms_analyzed"] = p99s(small[1], small[2], reads(*small[1:]),
                                                   args.requests)
            out["large"]["p99_ms_analyzed"] = p99s(large[1], large[2], reads(*large[1:]),
                                                   args.requests)
        for store, *_ in (small, large):
            store.dispose()
    return out


def table(name: str, out: dict[str, Any], key: str, events: int) -> list[str]:
    """Rows ``read | 1k p99 | N p99 | ratio | verdict`` for one backend and one pass."""
    small, large = out["small"][key], out["large"][key]
    lines = [f"\n{name} ({key}): p99 ms of {'/'.join(['1k', f'{events:,}'])}",
             f"{'read':<26}{'1k':>9}{f'{events:,}':>12}{'ratio':>8}  verdict"]
    for read, value in large.items():
        ratio = value / small[read] if small[read] else float("inf")
        ok = value <= P99_MS_MAX and ratio <= RATIO_MAX
        lines.append(f"{read:<26}{small[read]:>9.2f}{value:>12.2f}{ratio:>8.2f}  "
                     f"{'ok' if ok else 'MISS'}")
    return lines


def main() -> int:
    """Run the benchmark; exit 1 if any read missed a target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="the large store's size")
    parser.add_argument("--requests", type=int, default=200, help="GETs of each read")
    parser.add_argument("--intake", type=int, default=300, help="deliveries through the route")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="a server where this benchmark may create a database")
    parser.add_argument("--quick", action="store_true", help="20,000 events, 50 requests")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "store.json")
    args = parser.parse_args()
    if args.quick:
        args.events, args.requests, args.intake = min(args.events, 20_000), 50, 100
    results: dict[str, Any] = {"events": args.events, "requests": args.requests}
    with TemporaryDirectory() as folder:
        @contextmanager
        def sqlite_urls(tag: str) -> Iterator[str]:
            yield f"sqlite:///{Path(folder) / f'{tag}.db'}"

        chosen = {"sqlite": sqlite_urls,
                  "postgresql": lambda _tag: postgres_database(args.postgres)}
        for name in args.backends.split(","):
            results[name] = backend(name, chosen[name], args)
    lines, missed = [], False
    for name in args.backends.split(","):
        out = results[name]
        lines.append(f"\n{name}: fill {out['large']['fill_per_s']:,} events/s "
                     f"({out['large']['fill_s']} s for {args.events:,}); intake through "
                     f"/webhooks/mlflow {out['small']['intake_per_s']}/s at 1k, "
                     f"{out['large']['intake_per_s']}/s at {args.events:,}")
        for key in ("p99_ms", "p99_ms_analyzed"):
            if key in out["large"]:
                rows = table(name, out, key, args.events)
                missed |= any(row.endswith("MISS") for row in rows)
                lines += rows
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(lines) + f"\n\nwritten: {args.json}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
