"""CLI commands that act on the registry: govern, sweep, promote, rollback, history, policy, webhooks.

Each stores an event (source ``cli`` or ``sweep``) and, where the command is
synchronous, processes exactly that event in this process, so the audit
trail points at an event like every other decision.
"""

from __future__ import annotations

import getpass
import json
import sys
import uuid
from typing import Any

import click
from rich.table import Table

from handler.cli import _settings, console, emit_json, err_console, main, parse_since

MLFLOW_EVENTS: list[Any] = ["registered_model.created", "model_version.created", "model_version_tag.set",
                 "model_version_alias.created", "model_version_alias.deleted"]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


def _run_now(event_type: str, payload: dict[str, Any], as_json: bool) -> None:
    """Store a ``cli`` event and process it here, synchronously; exit 1 if it failed."""
    from handler.bootstrap import build_worker
    from handler.store import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    runtime = build_worker(settings)
    event_id, _ = runtime.store.ingest(
        source="cli", event_type=event_type, idempotency_key=f"cli:{uuid.uuid4().hex}",
        status="queued", body=json.dumps(payload), headers={})
    runtime.process_one(event_id)
    runtime.send_notifications()
    event = runtime.store.get_event(event_id)
    if as_json:
        emit_json({"event_id": event_id, "status": event["status"], "reason": event["reason"],
                   "error": event["last_error"], "actions": event["actions"]})
    else:
        colour = {"done": "green", "ignored": "yellow"}.get(event["status"], "red")
        console.print(f"[{colour}]{event['status']}[/] {event['reason'] or event['last_error'] or ''}"
                      f"  (event {event_id})", highlight=False)
        for action in event["actions"]:
            console.print(f"  {action['kind']:<16} {action['model']} v{action['version']} "
                          f"{action['alias'] or ''}", markup=False)
    if event["status"] not in ("done", "ignored"):
        sys.exit(1)


@main.command()
@click.option("--run-id", required=True)
@click.option("--model", help="registered model name (else the run's experiment picks the policy)")
@click.option("--json", "as_json", is_flag=True)
def govern(run_id: str, model: str | None, as_json: bool) -> None:
    """Run the run-finished flow for one run now, synchronously."""
    _run_now("run.finished", {"type": "run.finished", "run_id": run_id,
                              **({"model": model} if model else {})}, as_json)


@main.command()
@click.argument("model")
@click.argument("version")
@click.option("--json", "as_json", is_flag=True)
def promote(model: str, version: str, as_json: bool) -> None:
    """Approve and move the protected alias to VERSION (it must have passed the gates)."""
    _run_now("promote.requested", {"model": model, "version": version, "actor": _actor()}, as_json)


@main.command()
@click.argument("model")
@click.option("--to", "to_version", help="roll back to this version (default: previous holder)")
@click.option("--alias", help="the alias to roll back (default: the policy's protected alias)")
@click.option("--reason", help="why: kept in the audit trail and the notification")
@click.option("--json", "as_json", is_flag=True)
def rollback(model: str, to_version: str | None, alias: str | None, reason: str | None,
             as_json: bool) -> None:
    """Move the protected alias back to its previous eligible holder."""
    _run_now("rollback.requested", {"model": model, "to_version": to_version, "alias": alias,
                                    "reason": reason, "actor": _actor()}, as_json)


@main.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True)
def history(model: str, as_json: bool) -> None:
    """The audit trail of one model: every decision and alias move."""
    from handler.store import Store

    store = Store.from_url(_settings().database_url)
    result: dict[str, Any] = {"model": model, "entries": store.audit_trail(model),
              "aliases": store.alias_moves(model)}
    if as_json:
        emit_json(result)
        return
    if not result["entries"]:
        err_console.print(f"no history for {model}")
        return
    table = Table(title=f"history of {model}", header_style="bold")
    for column in ("time", "what", "version", "alias", "by", "event", "detail"):
        table.add_column(column, overflow="fold")
    for entry in result["entries"]:
        detail = entry["detail"]
        summary = detail.get("reason") or detail.get("status") or ", ".join(
            f"{k}={v}" for k, v in detail.items() if not isinstance(v, (dict, list)))
        table.add_row((entry["at"] or "")[:19].replace("T", " "), entry["kind"],
                      entry["version"] or "", entry["alias"] or "", entry["actor"],
                      entry["event_id"] or "", str(summary)[:80])
    console.print(table)


@main.command()
@click.option("--since", default="24h", show_default=True, help="24h, 7d or an ISO time")
@click.option("--json", "as_json", is_flag=True)
def sweep(since: str, as_json: bool) -> None:
    """Queue run.finished for finished runs of policy experiments with no governed version."""
    from handler.policy import load_policy
    from handler.registry import MlflowRegistry
    from handler.store import Store, upgrade

    settings = _settings()
    upgrade(settings.database_url)
    store, registry = Store.from_url(settings.database_url), MlflowRegistry()
    since_dt = parse_since(since)
    assert since_dt is not None
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


@main.group()
def policy() -> None:
    """The policy file."""


@policy.command("check")
@click.argument("path", required=False)
def policy_check(path: str | None) -> None:
    """Validate the policy file; print every error with its path (exit 2 if invalid)."""
    from handler.policy import check_policy

    path = path or _settings().policy
    loaded, errors = check_policy(path)
    if errors:
        for error in errors:
            err_console.print(f"[red]✗[/red] {error}", highlight=False)
        sys.exit(2)
    assert loaded is not None
    console.print(f"[green]✓[/green] {path}: {len(loaded.models)} model(s), "
                  f"channels: {', '.join(loaded.effective_channels)}", highlight=False)


@main.group()
def webhooks() -> None:
    """Subscriptions that send events to reghook."""


@webhooks.group("install")
def webhooks_install() -> None:
    """Create the subscription on the MLflow server or Databricks workspace."""


def _route(url: str, path: str) -> str:
    return url if url.rstrip("/").endswith(path) else url.rstrip("/") + path


@webhooks_install.command("mlflow")
@click.option("--url", required=True, help="reghook's base URL (or its /webhooks/mlflow URL)")
@click.option("--name", default="reghook", show_default=True)
def install_mlflow(url: str, name: str) -> None:
    """Subscribe reghook to the MLflow tracking server (MLFLOW_TRACKING_URI) with the first secret."""
    from mlflow import MlflowClient

    secrets = _settings().mlflow_secret_list
    if not secrets:
        raise click.UsageError("set REGHOOK_MLFLOW_SECRETS first: the webhook must be signed")
    created = MlflowClient().create_webhook(name=name, url=_route(url, "/webhooks/mlflow"),
                                            events=MLFLOW_EVENTS, secret=secrets[0])
    console.print(f"created MLflow webhook {created.webhook_id} → {_route(url, '/webhooks/mlflow')}",
                  markup=False)


@webhooks_install.command("databricks")
@click.option("--url", required=True, help="reghook's base URL (or its /webhooks/databricks URL)")
@click.option("--model", help="only this model's events (default: the whole registry)")
def install_databricks(url: str, model: str | None) -> None:
    """Create a Workspace Model Registry webhook (DATABRICKS_HOST / DATABRICKS_TOKEN)."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service import ml

    settings = _settings()
    secrets = settings.databricks_secret_list
    if not secrets:
        raise click.UsageError("set REGHOOK_DATABRICKS_SECRETS first: the webhook must be signed")
    authorization = (settings.databricks_authorization.get_secret_value()
                     if settings.databricks_authorization else None)
    events = [ml.RegistryWebhookEvent(e) for e in (
        "MODEL_VERSION_CREATED", "MODEL_VERSION_TAG_SET", "TRANSITION_REQUEST_CREATED",
        "MODEL_VERSION_TRANSITIONED_STAGE", "REGISTERED_MODEL_CREATED", "COMMENT_CREATED")]
    created = WorkspaceClient().model_registry.create_webhook(
        events=events, model_name=model, status=ml.RegistryWebhookStatus.ACTIVE,
        http_url_spec=ml.HttpUrlSpec(url=_route(url, "/webhooks/databricks"), secret=secrets[0],
                                     authorization=authorization))
    webhook = created.webhook
    console.print(f"created Databricks webhook {webhook.id if webhook else '?'}", markup=False)


@main.command()
@click.option("--dir", "root", type=click.Path(), help="where to keep the demo's data")
def demo(root: str | None) -> None:
    """The whole flow on this machine: mlflow server, reghook, churn runs, approval, guard, rollback."""
    try:
        from handler.demo import DemoFailed, run_demo
    except ImportError as exc:
        raise click.UsageError(
            f"the demo needs the dev extras (pip install -e '.[dev]'): {exc}") from exc
    from pathlib import Path

    try:
        run_demo(Path(root) if root else None)
    except DemoFailed as exc:
        err_console.print(f"[red]demo failed:[/red] {exc}")
        sys.exit(1)
