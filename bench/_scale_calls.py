"""bench/scale.py's last step: the MLflow server's CPU per REST call of a governed version.

Each call reghook makes for a version, repeated ``times`` times one after the
other from this process, with the server's CPU read from /proc around the
loop: which calls are worth saving. The alias write is timed twice, with the
webhook subscription off and on, so the difference is what delivering one
webhook costs the server. Runs after every phase: what it stores in reghook
(echoes of its writes) no longer matters.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from _cpu import TICKS, _ticks, descendants

from handler.registry.signatures import read_signature


def server_ms_per_call(pid: int, call: Callable[[int], Any], times: int) -> float:
    """CPU milliseconds the server (``pid`` and its children) spent per ``call(i)``."""
    before = _ticks(descendants(pid))
    for i in range(times):
        call(i)
    time.sleep(0.3)  # work the server does after answering (a webhook's delivery) lands too
    return round((_ticks(descendants(pid)) - before) / TICKS / times * 1000, 1)


def call_costs(client: Any, pid: int, model: str, run_ids: list[str], model_ids: list[str],
               webhook: Callable[[bool], None], times: int) -> dict[str, float]:
    """Server CPU ms per call for each call of reghook's run-finished flow, on ``model``
    (a model of the policy with v1 as champion); ``run_ids``/``model_ids``: ``times`` runs."""
    import mlflow

    mlflow.set_tracking_uri(client.tracking_uri)  # read_signature downloads through it, as a worker
    location = client.get_logged_model(model_ids[0]).artifact_location.rstrip("/")
    versions: list[str] = []

    def create(i: int) -> None:
        versions.append(client.create_model_version(
            model, f"models:/{model_ids[i]}", run_id=run_ids[i], model_id=model_ids[i],
            tags={"reghook.status": "passed"}, await_creation_for=0).version)

    webhook(False)
    costs = {
        "GET runs/get": server_ms_per_call(pid, lambda i: client.get_run(run_ids[i]), times),
        "GET logged-models/{id}": server_ms_per_call(
            pid, lambda i: client.get_logged_model(model_ids[i]), times),
        "GET artifacts (list) + MLmodel": server_ms_per_call(
            pid, lambda _: read_signature(f"{location}/MLmodel"), times),
        "GET model-versions/search by run": server_ms_per_call(
            pid, lambda i: client.search_model_versions(
                f"name='{model}' and run_id='{run_ids[i]}'"), times),
        "GET registered-models/alias": server_ms_per_call(
            pid, lambda _: client.get_model_version_by_alias(model, "champion"), times),
        "POST model-versions/create (tags)": server_ms_per_call(pid, create, times),
        "POST registered-models/alias": server_ms_per_call(
            pid, lambda i: client.set_registered_model_alias(model, "staging", versions[i]), times),
    }
    webhook(True)
    costs["POST registered-models/alias, webhook on"] = server_ms_per_call(
        pid, lambda i: client.set_registered_model_alias(model, "staging", versions[-1 - i]), times)
    return costs
