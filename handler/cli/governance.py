"""Commands that act on the registry: ``promote``, ``rollback``, ``history``, ``sweep``.

Each stores an event (source ``cli`` or ``sweep``) and, where the command is
synchronous, processes exactly that event in this process, so the audit
trail points at an event like every other decision.
"""

from __future__ import annotations

import getpass
import json
import sys
import uuid
from typing import TYPE_CHECKING, Any

import click

from handler.cli.inputs import load_settings, open_store, since_bound
from handler.cli.output import console, emit_json, err_console, history_table

if TYPE_CHECKING:
    from handler.worker.runtime import WorkerRuntime


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


def worker_here() -> WorkerRuntime:
    """A worker in this process, over the configured store (created on first use)."""
    from handler.bootstrap import build_worker
    from handler.store import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    return build_worker(settings)


def process_now(runtime: WorkerRuntime, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Store a ``cli`` event, process exactly it here, send its news; the event as stored."""
    event_id, _ = runtime.store.ingest(
        source="cli", event_type=event_type, idempotency_key=f"cli:{uuid.uuid4().hex}",
        status="queued", body=json.dumps(payload), headers={})
    runtime.process_one(event_id)
    runtime.send_notifications()
    event = runtime.store.get_event(event_id)
    assert event is not None  # stored above; events are never deleted
    return event


def run_now(event_type: str, payload: dict[str, Any], as_json: bool) -> None:
    """Store a ``cli`` event and process it here, synchronously; exit 1 if it failed."""
    event = process_now(worker_here(), event_type, payload)
    event_id = event["id"]
    if as_json:
        emit_json({"event_id": event_id, "status": event["status"], "reason": event["reason"],
                   "error": event["last_error"], "actions": event["actions"]})
    else:
        _print_outcome(event_id, event)
    if event["status"] not in ("done", "ignored"):
        sys.exit(1)


def _print_outcome(event_id: str, event: dict[str, Any]) -> None:
    """The processed event's status and reason, then one line per action it caused."""
    colour = {"done": "green", "ignored": "yellow"}.get(event["status"], "red")
    console.print(f"[{colour}]{event['status']}[/] {event['reason'] or event['last_error'] or ''}"
                  f"  (event {event_id})", highlight=False)
    for action in event["actions"]:
        console.print(f"  {action['kind']:<16} {action['model']} v{action['version']} "
                      f"{action['alias'] or ''}", markup=False)


@click.command("promote")
@click.argument("model")
@click.argument("version")
@click.option("--json", "as_json", is_flag=True)
def promote(model: str, version: str, as_json: bool) -> None:
    """Approve and move the protected alias to VERSION (it must have passed the gates)."""
    run_now("promote.requested", {"model": model, "version": version, "actor": _actor()}, as_json)


@click.command("rollback")
@click.argument("model")
@click.option("--to", "to_version", help="roll back to this version (default: previous holder)")
@click.option("--alias", help="the alias to roll back (default: the policy's protected alias)")
@click.option("--reason", help="why: kept in the audit trail and the notification")
@click.option("--json", "as_json", is_flag=True)
def rollback(model: str, to_version: str | None, alias: str | None, reason: str | None,
             as_json: bool) -> None:
    """Move the protected alias back to its previous eligible holder."""
    run_now("rollback.requested", {"model": model, "to_version": to_version, "alias": alias,
                                    "reason": reason, "actor": _actor()}, as_json)


@click.command("history")
@click.argument("model")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
@click.option("--before", metavar="CURSOR", help="the next page: the cursor the last page printed")
@click.option("--json", "as_json", is_flag=True)
def history(model: str, limit: int, before: str | None, as_json: bool) -> None:
    """The audit trail of one model, newest first: every decision and alias move."""
    result = open_store(load_settings()).timeline(model, limit=limit, before=before)
    if as_json:
        emit_json(result)
        return
    if not result["entries"]:
        err_console.print(f"no history for {model}")
        return
    console.print(history_table(model, result["entries"]))
    if result["next"]:
        err_console.print(f"more: --before {result['next']}", highlight=False)


@click.command("sweep")
@click.option("--since", default="24h", show_default=True, help="24h, 7d or an ISO time")
@click.option("--json", "as_json", is_flag=True)
def sweep(since: str, as_json: bool) -> None:
    """Queue run.finished for finished runs of policy experiments with no governed version."""
    from handler.bootstrap import build_registry, build_store
    from handler.policy import load_policy
    from handler.store import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    store, registry = build_store(settings), build_registry(settings)
    since_dt = since_bound(since)
    if since_dt is None:
        # Unlike `events list`, a sweep always has a bound: it walks finished runs.
        raise click.BadParameter("use 24h, 30m, 7d or an ISO 8601 time", param_hint="--since")
    queued = []
    for policy in load_policy(settings.policy).models:
        if not policy.experiment:
            continue
        for run_id in registry.finished_runs(policy.experiment, int(since_dt.timestamp() * 1000)):
            found = registry.find_version_for_run(policy.name, run_id)
            if found is not None and found.tags.get("reghook.status"):
                continue
            body = json.dumps({"type": "run.finished", "run_id": run_id, "model": policy.name})
            event_id, created = store.ingest(source="sweep", event_type="run.finished",
                                             idempotency_key=f"sweep:{policy.name}:{run_id}",
                                             status="queued", body=body, headers={})
            if created:
                queued.append({"event_id": event_id, "model": policy.name, "run_id": run_id})
    if as_json:
        emit_json({"queued": queued})
    else:
        console.print(f"queued {len(queued)} run(s)")
        for item in queued:
            console.print(f"  {item['model']} run {item['run_id']} → {item['event_id']}", markup=False)
