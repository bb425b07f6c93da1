"""Commands that act on the registry: ``promote``, ``rollback``, ``deprecate``, ``history``, ``sweep``.

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
from handler.cli.output import clean, console, emit_json, err_console, history_table, safe, waiting

if TYPE_CHECKING:
    from handler.worker.runtime import WorkerRuntime


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


def worker_here() -> WorkerRuntime:
    """A worker in this process, over the configured store (whose schema must be current)."""
    from handler.bootstrap import build_worker, prepare_store, tracking_server

    settings = load_settings()
    prepare_store(settings)
    tracking_server(settings)
    return build_worker(settings)


def require_known(runtime: WorkerRuntime, model: str | None, *, version: str | None = None,
                  run_id: str | None = None) -> None:
    """Check what a command names before storing anything (docs/cli.md#governance).

    A typo (an unknown model, version or run) is a usage error, exit 2: no
    event is stored, so no failed event and no "processing failed"
    notification reaches the team. A registry that cannot be reached is
    left to the command (exit 1).
    """
    from handler.errors import ConfigError, PermanentError

    context = runtime.context
    assert context is not None
    if model is not None and context.policy(model) is None:
        known = ", ".join(p.name for p in context.policies.models) or "none"
        raise ConfigError(f"no policy for model {model!r} in the policy file (models: {known})")
    try:
        if model is not None and version is not None:
            context.registry.get_version(model, version)
        if run_id is not None:
            context.registry.get_run(run_id)
    except PermanentError as exc:
        raise ConfigError(str(exc)) from None


def process_now(runtime: WorkerRuntime, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Store a ``cli`` event, process exactly it here, send its news; the event as stored."""
    event_id, _ = runtime.store.ingest(
        source="cli", event_type=event_type, idempotency_key=f"cli:{uuid.uuid4().hex}",
        status="queued", body=json.dumps(payload), headers={})
    # Registering waits for the version to be READY; sending may wait for pacing.
    with waiting(f"processing {event_type} (event {event_id})…"):
        runtime.process_one(event_id)
        runtime.send_notifications()
    event = runtime.store.get_event(event_id)
    assert event is not None  # stored above; a purge never takes a fresh event
    return event


def run_now(event_type: str, payload: dict[str, Any], as_json: bool,
            runtime: WorkerRuntime | None = None) -> None:
    """Store a ``cli`` event and process it here, synchronously; exit 1 if it failed or was refused."""
    event = process_now(runtime or worker_here(), event_type, payload)
    event_id = event["id"]
    if as_json:
        emit_json({"event_id": event_id, "status": event["status"], "reason": event["reason"],
                   "error": event["last_error"], "actions": event["actions"]})
    else:
        _print_outcome(event_id, event)
    refused = any(action["kind"] == "approval_refused" for action in event["actions"])
    if event["status"] not in ("done", "ignored") or refused:
        sys.exit(1)


def _print_outcome(event_id: str, event: dict[str, Any]) -> None:
    """The processed event's status and reason, then one line per action it caused."""
    colour = {"done": "green", "ignored": "yellow"}.get(event["status"], "red")
    console.print(f"[{colour}]{event['status']}[/] {safe(event['reason'] or event['last_error'])}"
                  f"  (event {safe(event_id)})", highlight=False)
    for action in event["actions"]:
        console.print(clean(f"  {action['kind']:<16} {action['model']} v{action['version']} "
                            f"{action['alias'] or ''}"), markup=False, highlight=False)


@click.command("promote")
@click.argument("model")
@click.argument("version")
@click.option("--as", "approver", metavar="WHO",
              help="the approver recorded and named (default: cli:<your user name>)")
@click.option("--json", "as_json", is_flag=True)
def promote(model: str, version: str, approver: str | None, as_json: bool) -> None:
    """Approve and move the protected alias to VERSION (it must have passed the gates)."""
    if approver is not None and not approver.strip():
        raise click.BadParameter("name someone", param_hint="--as")
    runtime = worker_here()
    require_known(runtime, model, version=version)
    run_now("promote.requested", {"model": model, "version": version,
                                  "actor": approver.strip() if approver else _actor()},
            as_json, runtime)


@click.command("rollback")
@click.argument("model")
@click.option("--to", "to_version", help="roll back to this version (default: previous holder)")
@click.option("--alias", help="the alias to roll back (default: the policy's protected alias)")
@click.option("--reason", help="why: kept in the audit trail and the notification")
@click.option("--json", "as_json", is_flag=True)
def rollback(model: str, to_version: str | None, alias: str | None, reason: str | None,
             as_json: bool) -> None:
    """Move the protected alias back to its previous eligible holder."""
    runtime = worker_here()
    require_known(runtime, model, version=to_version)
    run_now("rollback.requested", {"model": model, "to_version": to_version, "alias": alias,
                                    "reason": reason, "actor": _actor()}, as_json, runtime)


@click.command("deprecate")
@click.argument("model")
@click.argument("version")
@click.option("--reason", required=True, help="why: kept in the audit trail and the notification")
@click.option("--json", "as_json", is_flag=True)
def deprecate(model: str, version: str, reason: str, as_json: bool) -> None:
    """Deprecate VERSION: tagged, its reghook aliases removed, never promoted or rolled back to."""
    runtime = worker_here()
    require_known(runtime, model, version=version)
    run_now("deprecate.requested", {"model": model, "version": version, "reason": reason,
                                    "actor": _actor()}, as_json, runtime)


@click.command("history")
@click.argument("model")
@click.option("--since", help="only entries at or after: 24h, 7d or an ISO time")
@click.option("--until", help="only entries before: 24h (ago), 7d or an ISO time")
@click.option("--all", "every_page", is_flag=True,
              help="every page in the range (an audit export), not one page")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
@click.option("--before", metavar="CURSOR", help="the next page: the cursor the last page printed")
@click.option("--json", "as_json", is_flag=True)
def history(model: str, since: str | None, until: str | None, every_page: bool, limit: int,
            before: str | None, as_json: bool) -> None:
    """The audit trail of one model, newest first: every decision and alias move.

    Reads the audit trail and alias history only, which ``events purge``
    keeps, so ``--all --json --since ... --until ...`` exports a time range
    whole after a purge (docs/cli.md#history).
    """
    since_dt = since_bound(since)
    try:
        until_dt = since_bound(until)
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint="--until") from None
    store = open_store(load_settings())
    result = store.timeline(model, limit=limit, before=before, since=since_dt, until=until_dt)
    while every_page and result["next"]:
        more = store.timeline(model, limit=limit, before=result["next"], since=since_dt,
                              until=until_dt)
        result = {**more, "entries": result["entries"] + more["entries"],
                  "aliases": result["aliases"] + more["aliases"]}
    if as_json:
        emit_json(result)
        return
    if not result["entries"]:
        err_console.print(f"no history for {clean(model)}", markup=False)
        return
    console.print(history_table(model, result["entries"]))
    if result["next"]:
        err_console.print(f"more: --before {result['next']}", highlight=False)


@click.command("sweep")
@click.option("--since", default="24h", show_default=True, help="24h, 7d or an ISO time")
@click.option("--json", "as_json", is_flag=True)
def sweep(since: str, as_json: bool) -> None:
    """Queue run.finished for finished runs of policy experiments with no governed version."""
    from rich.progress import track

    from handler.bootstrap import build_registry, build_store, prepare_store, tracking_server
    from handler.policy import load_policy

    settings = load_settings()
    prepare_store(settings)
    tracking_server(settings)
    store, registry = build_store(settings), build_registry(settings)
    since_dt = since_bound(since)
    if since_dt is None:
        # Unlike `events list`, a sweep always has a bound: it walks finished runs.
        raise click.BadParameter("use 24h, 30m, 7d or an ISO 8601 time", param_hint="--since")
    queued = []
    for policy in load_policy(settings.policy).models:
        if not policy.experiment:
            continue
        with waiting(f"looking for finished runs of {policy.experiment}…"):
            run_ids = registry.finished_runs(policy.experiment, int(since_dt.timestamp() * 1000))
        for run_id in track(run_ids, description=f"checking {policy.name}", console=err_console,
                            disable=len(run_ids) < 10, transient=True):
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
            console.print(clean(f"  {item['model']} run {item['run_id']} → {item['event_id']}"),
                          markup=False, highlight=False)
