"""``reghook demo``: the whole flow on this machine, narrated.

A local mlflow server, reghook (web app + worker), synthetic churn runs with
real scikit-learn models, the gates, approval, the guard and a rollback —
every step checked against the registry and shown as it happens.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from handler.demo.churn import log_churn_run
from handler.demo.prose import ProseNotifications
from handler.demo.stack import DEMO_ADMIN_TOKEN, EVENTS_SECRET, Stack, local_stack, settle, wait_until

MODEL = "quickbite_churn_predictor"
EXPERIMENT = "/Shared/QuickBite_Churn_Prediction"
POLICY = Path(__file__).with_name("policy.yaml")

console = Console()


class DemoFailed(RuntimeError):
    """A demo step did not end the way reghook promises."""


def _wait(what: str, check: Callable[[], Any], timeout_s: float = 60) -> Any:
    return wait_until(check, timeout_s, what, DemoFailed)


def _event(stack: Stack, event_id: str) -> dict[str, Any]:
    found = stack.store.get_event(event_id)
    if found is None:
        raise DemoFailed(f"event {event_id} is missing from the store")
    return found


def _settle(stack: Stack, quiet_s: float = 1.5) -> None:
    """Wait until reghook has processed everything, including MLflow's echoes."""
    settle(stack.store, quiet_s, error=DemoFailed)


def _aliases(client: Any) -> str:
    model = client.get_registered_model(MODEL)
    pairs = sorted((alias, version) for alias, version in (model.aliases or {}).items())
    return ", ".join(f"{a} → v{v}" for a, v in pairs) or "none"


def _show_version(client: Any, version: str) -> None:
    tags = client.get_model_version(MODEL, version).tags
    status = tags.get("reghook.status", "?")
    colour = {"passed": "green", "failed": "red", "rolled_back": "yellow"}.get(status, "white")
    console.print(f"   v{version}: [{colour}]{status}[/]  gates: {tags.get('reghook.gates', '')}",
                  highlight=False)
    console.print(f"   aliases now: {_aliases(client)}", highlight=False)


def _train_and_govern(stack: Stack, client: Any, title: str, **run_args: Any) -> str:
    from handler.emit import post_run_finished

    console.rule(f"[bold]{title}")
    run = log_churn_run(stack.mlflow.url, EXPERIMENT, **run_args)
    console.print(f"   trained run {run.run_id[:8]}… recall={run.recall:.2f} "
                  f"precision={run.precision:.2f}; the pipeline's last step emits run.finished",
                  highlight=False)
    response = post_run_finished(stack.reghook_url, EVENTS_SECRET, run.run_id)
    event_id = response.json()["event_id"]
    console.print(f"   reghook answered {response.status_code} {response.json()['status']} "
                  f"(event {event_id})", highlight=False)
    _wait("the event to finish", lambda: _event(stack, event_id)["status"]
          in ("done", "failed", "ignored"))
    _settle(stack)
    found = client.search_model_versions(f"run_id = '{run.run_id}'")
    if len(found) != 1:
        raise DemoFailed(f"expected exactly one version for run {run.run_id}, found {len(found)}")
    _show_version(client, found[0].version)
    return str(found[0].version)


def _expect_champion(client: Any, version: str) -> None:
    def holder() -> bool:
        return (client.get_registered_model(MODEL).aliases or {}).get("champion") == version
    _wait(f"champion on v{version}", holder, 30)


def _history(stack: Stack) -> None:
    table = Table(title=f"reghook history {MODEL}", header_style="bold")
    for column in ("what", "version", "alias", "by", "event"):
        table.add_column(column)
    for entry in stack.store.audit_trail(MODEL):
        if entry["kind"] in ("recorded",):
            continue
        table.add_row(entry["kind"], entry["version"] or "", entry["alias"] or "",
                      entry["actor"], entry["event_id"] or "")
    console.print(table)


def run_demo(root: Path | None = None) -> None:
    """Run the narrated end-to-end demo; raise DemoFailed if any promise is broken."""
    from mlflow import MlflowClient

    root = root or Path.cwd() / "demo-data" / time.strftime("%Y%m%d-%H%M%S")
    console.print(f"[bold]reghook demo[/] — data in {root}")
    with console.status("starting a local mlflow server and reghook…"):
        stack_context = local_stack(root, POLICY)
        stack = stack_context.__enter__()
    try:
        # A person reads this terminal: notifications as sentences, not JSON lines.
        stack.runtime.notifier.stdout = ProseNotifications(console)
        client = MlflowClient(stack.mlflow.url)
        console.print(f"   mlflow at {stack.mlflow.url}, reghook at {stack.reghook_url}",
                      highlight=False)
        v1 = _train_and_govern(stack, client, "1. a good churn model: passes → staging", seed=7)

        console.rule("[bold]2. a reviewer approves v1 → champion")
        client.set_model_version_tag(MODEL, v1, "approval", "approved")
        _expect_champion(client, v1)
        _settle(stack)
        console.print(f"   aliases now: {_aliases(client)}", highlight=False)

        v2 = _train_and_govern(stack, client, "3. an unweighted model misses churners: rejected",
                               good=False, seed=8)

        console.rule("[bold]4. someone points champion at the rejected v2 by hand")
        client.set_registered_model_alias(MODEL, "champion", v2)
        _expect_champion(client, v1)
        _settle(stack)
        console.print(f"   the guard moved it back: {_aliases(client)}; v2 tagged "
                      f"reghook.guard={client.get_model_version(MODEL, v2).tags.get('reghook.guard')!r}",
                      highlight=False)

        v3 = _train_and_govern(stack, client, "5. a better model passes, and is approved",
                               seed=8)
        client.set_model_version_tag(MODEL, v3, "approval", "approved")
        _expect_champion(client, v3)
        _settle(stack)
        console.print(f"   aliases now: {_aliases(client)}", highlight=False)

        _rollback_step(stack, client, v3, v1)

        console.rule("[bold]7. the audit trail")
        _history(stack)
        counts = stack.store.counts_by_status()
        console.print(f"   {sum(counts.values())} events stored: "
                      + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
                      + "; each 📣 line above is a notification (the log channel)", highlight=False)
        console.print("[bold green]demo finished: every step checked against the registry")
        _console_hint(stack, root)
    finally:
        stack_context.__exit__(None, None, None)


def _rollback_step(stack: Stack, client: Any, current: str, previous: str) -> None:
    """Step 6: roll the champion back from ``current`` to ``previous``, as the CLI would."""
    console.rule(f"[bold]6. v{current} misbehaves in production: one-command rollback")
    # Exactly what `reghook rollback` and POST /api/models/<name>/rollback do.
    event_id, _ = stack.store.ingest(
        source="cli", event_type="rollback.requested", idempotency_key=f"demo:{uuid.uuid4()}",
        status="queued", headers={}, body=json.dumps(
            {"model": MODEL, "reason": "demo: latency regression", "actor": "cli:demo"}))
    stack.runtime.wake()
    _wait("the rollback", lambda: _event(stack, event_id)["status"] in ("done", "failed"))
    _settle(stack)
    event = _event(stack, event_id)
    if event["status"] != "done":
        raise DemoFailed(f"rollback failed: {event['last_error']}")
    console.print(f"   {event['reason']}; v{current} is tagged "
                  f"{client.get_model_version(MODEL, current).tags['reghook.status']}",
                  highlight=False)
    _expect_champion(client, previous)


def _console_hint(stack: Stack, root: Path) -> None:
    """Where to look at what happened: the console, now and after the demo."""
    console.rule("[bold]8. the operator console")
    console.print(f"   while the demo ran: {stack.reghook_url}/console/ (token {DEMO_ADMIN_TOKEN})\n"
                  "   to browse this demo's events, models and comparison again:\n"
                  f"     REGHOOK_DATABASE_URL=sqlite:///{root / 'reghook.db'} "
                  f"REGHOOK_ADMIN_TOKEN={DEMO_ADMIN_TOKEN} reghook serve --no-worker\n"
                  "     then open http://127.0.0.1:8080/console/", highlight=False)

