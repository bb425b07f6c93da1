"""The governance unit tier: use cases over a FakeRegistry and a real (SQLite) ledger.

The ledger is the real store — exactly-once and echo rules depend on its
SQL — copied from one migrated template per session, so a test costs
milliseconds, not a migration.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from handler.gates import DatasetFact
from handler.governance.context import Context
from handler.governance.ports import RunInfo
from handler.governance.routes import build_router
from handler.governance.watch import watch
from handler.policy import PolicyFile
from handler.store import Store, upgrade
from tests.fakes import FakeRegistry, FakeWorkspace

MODEL = "churn"
SIGNATURE = {"tenure": "long", "orders": "long"}
DATASET = (DatasetFact("churn_train", "s3://data/churn.parquet", "{tenure, orders}"),)


def policy(**overrides: Any) -> dict[str, Any]:
    """The churn policy of the docs: every gate on; ``overrides`` replace top-level keys."""
    base: dict[str, Any] = {
        "name": MODEL, "experiment": "/Shared/exp-1", "artifact_path": "model",
        "gates": {"metrics": {"recall": {"min": 0.70}, "precision": {"min": 0.15}},
                  "champion": {"alias": "champion", "metric": "recall", "max_regression": 0.02},
                  "signature": "match_champion", "dataset": "match_champion",
                  "required_tags": ["git_commit"]},
        "on_pass": {"aliases": ["staging"], "tags": {"deployment_mode": "batch"}},
        "on_fail": {"tags": {"deployment_mode": "blocked"}},
        "promotion": {"alias": "champion", "approval_tag": "approval", "guard": "revert"},
    }
    base.update(overrides)
    return base


@dataclass
class World:
    """One reghook worker's view: the fake registry and workspace, the store, the context."""

    registry: FakeRegistry
    workspace: FakeWorkspace
    store: Store
    ctx: Context
    events: int = 0

    def event_id(self) -> str:
        """A fresh event id, stored as a queued event so the ledger knows it."""
        self.events += 1
        event_id, _ = self.store.ingest(source="events", event_type="run.finished",
                                        idempotency_key=f"k{self.events}", status="queued",
                                        body="{}", headers={})
        return event_id

    def run(self, run_id: str, recall: float = 0.8, precision: float = 0.3,
            **kwargs: Any) -> RunInfo:
        """A finished churn run that passes every gate unless told otherwise."""
        kwargs.setdefault("tags", {"git_commit": "abc123"})
        kwargs.setdefault("datasets", DATASET)
        kwargs.setdefault("signature", SIGNATURE)
        return self.registry.add_run(run_id, metrics={"recall": recall, "precision": precision},
                                     **kwargs)

    def dispatch(self, source: str, event_type: str, body: str, event_id: str | None = None) -> Any:
        """Route one event as the worker would."""
        return build_router().dispatch(self.ctx, event_id or self.event_id(), source,
                                       event_type, body)

    def watch(self, every_s: float = 0) -> list[Any]:
        """One look of the registry watch (every model due)."""
        return watch(self.ctx, self.store, self.store, every_s)

    def drain(self) -> list[tuple[str, str, str | None]]:
        """Process every queued event as a worker would: (type, status, reason) of each."""
        router, results = build_router(), []
        while (event := self.store.claim_event(self.ctx.owner, 30)) is not None:
            result = router.dispatch(self.ctx, event.id, event.original_source, event.type,
                                     event.body)
            self.store.finish_event(event.id, self.ctx.owner, result.status, reason=result.reason)
            results.append((event.type, result.status, result.reason))
        return results

    def audit(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The model's audit trail (of one kind, or all)."""
        return [e for e in self.store.audit_trail(MODEL) if kind is None or e["kind"] == kind]

    def outcomes(self) -> list[str]:
        """Outcomes queued for notification, oldest first."""
        return [m["outcome"] for m in reversed(self.store.list_outbox(limit=1000))]


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ledger") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def make_world(tmp_path: Path, template_db: Path, policies: list[dict[str, Any]],
               owner: str = "worker-1", *, unity_catalog: bool = False) -> World:
    """A world over a fresh copy of the migrated ledger."""
    path = tmp_path / "ledger.db"  # one ledger, however many workers
    if not path.exists():
        shutil.copy(template_db, path)
    store = Store.from_url(f"sqlite:///{path}")
    registry, workspace = FakeRegistry(unity_catalog=unity_catalog), FakeWorkspace()
    ctx = Context(registry=registry, ledger=store,
                  policies=PolicyFile.model_validate({"models": policies}), owner=owner,
                  lease_s=30, ready_timeout_s=5, workspace=workspace,
                  clock=lambda: datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    return World(registry, workspace, store, ctx)


@pytest.fixture
def world(tmp_path: Path, template_db: Path) -> Iterator[World]:
    """The churn policy over a fake registry."""
    w = make_world(tmp_path, template_db, [policy()])
    yield w
    w.store.dispose()
