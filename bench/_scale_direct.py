"""bench/scale.py's baseline: the MLflow server's own ceiling for the same registry work.

Per version, what reghook's run-finished flow leaves in the registry, written
directly with MlflowClient: ``create_model_version`` carrying the governance
tags, then the ``staging`` alias. ``count`` separate processes (spawned, as
reghook's workers are separate processes) share the versions; each imports
mlflow and builds its client before a common start, so start-up is not timed.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime
from typing import Any

from _govern_stack import BenchFailed

Job = tuple[str, str, str]  # model, run id, logged model id


def tags_like_reghook(run_id: str) -> dict[str, str]:
    """The seven tags reghook writes on a version that passed the demo policy's gates."""
    return {"reghook.status": "passed", "reghook.gates": "metrics ok, champion ok, signature ok, "
            "dataset ok, required_tags ok", "reghook.event_id": f"direct-{run_id}",
            "reghook.run_id": run_id,
            "reghook.validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "deployment_mode": "batch_inference_only",
            "known_limitation": "extreme_class_imbalance"}


def _client(tracking_uri: str, jobs: list[Job], start: Any, ready: Any, done: Any,
            leave: Any) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    client.search_registered_models(max_results=1)  # connection and imports warmed up
    ready.put(None)
    start.wait()
    try:
        for model, run_id, model_id in jobs:
            version = client.create_model_version(model, f"models:/{model_id}", run_id=run_id,
                                                  model_id=model_id, tags=tags_like_reghook(run_id),
                                                  await_creation_for=0)
            client.set_registered_model_alias(model, "staging", version.version)
    except Exception as exc:  # noqa: BLE001 - reported to the benchmark, which fails the run
        done.put(f"{type(exc).__name__}: {exc}")
    else:
        done.put(time.time())
    leave.wait(60)  # alive until the benchmark has read this process's CPU time


class DirectClients:
    """``count`` processes, each with its share of the jobs, ready and waiting for :meth:`run`."""

    def __init__(self, tracking_uri: str, jobs: list[Job], count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.start, self.leave = context.Event(), context.Event()
        self.ready, self.done = context.Queue(), context.Queue()
        self.processes = [context.Process(target=_client, daemon=True, args=(
            tracking_uri, jobs[k::count], self.start, self.ready, self.done, self.leave))
            for k in range(count)]
        for process in self.processes:
            process.start()
        for _ in self.processes:
            self.ready.get(timeout=120)

    def pids(self) -> list[int]:
        """The client processes."""
        return [p.pid for p in self.processes if p.pid is not None and p.is_alive()]

    def run(self) -> tuple[float, float]:
        """Release them all; wall-clock start and the time the last one finished."""
        started = time.time()
        self.start.set()
        ends = [self.done.get(timeout=600) for _ in self.processes]
        if failed := [end for end in ends if isinstance(end, str)]:
            raise BenchFailed(f"a direct client failed: {failed[0]}")
        return started, max(ends)

    def close(self) -> None:
        """Let the processes exit."""
        self.leave.set()
        for process in self.processes:
            process.join(timeout=30)
