"""Commands for setting reghook up and trying it out.

``policy check``, ``webhooks install mlflow|databricks``, ``emit run-finished`` and ``demo``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from handler.cli.inputs import load_settings
from handler.cli.output import console, err_console
from handler.events import MLFLOW_EVENT_TYPES

# The Workspace Model Registry events reghook acts on or records.
DATABRICKS_EVENT_TYPES = ("MODEL_VERSION_CREATED", "MODEL_VERSION_TAG_SET", "TRANSITION_REQUEST_CREATED",
                          "MODEL_VERSION_TRANSITIONED_STAGE", "REGISTERED_MODEL_CREATED",
                          "COMMENT_CREATED")


@click.group("policy")
def policy_group() -> None:
    """The policy file."""


@policy_group.command("check")
@click.argument("path", required=False)
def policy_check(path: str | None) -> None:
    """Validate the policy file; print every error with its path (exit 2 if invalid)."""
    from handler.policy import check_policy

    settings = load_settings()
    path = path or settings.policy
    loaded, errors = check_policy(path, unity_catalog=settings.unity_catalog)
    if errors:
        for error in errors:
            err_console.print(f"[red]✗[/red] {error}", highlight=False)
        sys.exit(2)
    assert loaded is not None
    console.print(f"[green]✓[/green] {path}: {len(loaded.models)} model(s), "
                  f"channels: {', '.join(loaded.effective_channels)}", highlight=False)


@click.group("webhooks")
def webhooks_group() -> None:
    """Subscriptions that send events to reghook."""


@webhooks_group.group("install")
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

    secrets = load_settings().mlflow_secret_list
    if not secrets:
        raise click.UsageError("set REGHOOK_MLFLOW_SECRETS first: the webhook must be signed")
    # mlflow types the list as its own Literal; the shared tuple holds exactly those strings.
    events: list[Any] = list(MLFLOW_EVENT_TYPES)
    created = MlflowClient().create_webhook(name=name, url=_route(url, "/webhooks/mlflow"),
                                            events=events, secret=secrets[0])
    console.print(f"created MLflow webhook {created.webhook_id} → {_route(url, '/webhooks/mlflow')}",
                  markup=False)


@webhooks_install.command("databricks")
@click.option("--url", required=True, help="reghook's base URL (or its /webhooks/databricks URL)")
@click.option("--model", help="only this model's events (default: the whole registry)")
def install_databricks(url: str, model: str | None) -> None:
    """Create a Workspace Model Registry webhook (DATABRICKS_HOST / DATABRICKS_TOKEN)."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service import ml

    settings = load_settings()
    secrets = settings.databricks_secret_list
    if not secrets:
        raise click.UsageError("set REGHOOK_DATABRICKS_SECRETS first: the webhook must be signed")
    authorization = (settings.databricks_authorization.get_secret_value()
                     if settings.databricks_authorization else None)
    created = WorkspaceClient().model_registry.create_webhook(
        events=[ml.RegistryWebhookEvent(e) for e in DATABRICKS_EVENT_TYPES], model_name=model,
        status=ml.RegistryWebhookStatus.ACTIVE,
        http_url_spec=ml.HttpUrlSpec(url=_route(url, "/webhooks/databricks"), secret=secrets[0],
                                     authorization=authorization))
    webhook = created.webhook
    console.print(f"created Databricks webhook {webhook.id if webhook else '?'}", markup=False)


@click.group("emit")
def emit_group() -> None:
    """Send signed events to a reghook."""


@emit_group.command("run-finished")
@click.option("--url", required=True, help="reghook's base URL or its /events URL")
@click.option("--run-id", required=True)
@click.option("--model", help="registered model name (else the policy's experiment decides)")
@click.option("--secret", envvar="REGHOOK_EMIT_SECRET",
              help="whsec_… (default: the first of REGHOOK_EVENTS_SECRETS)")
def emit_run_finished(url: str, run_id: str, model: str | None, secret: str | None) -> None:
    """Post a signed run.finished event (a training job's last step)."""
    from handler.emit import post_run_finished

    secret = secret or next(iter(load_settings().events_secret_list), None)
    if not secret:
        raise click.UsageError("no secret: pass --secret or set REGHOOK_EVENTS_SECRETS")
    response = post_run_finished(url, secret, run_id, model)
    click.echo(response.text.strip())
    sys.exit(0 if response.ok else 1)


@click.command("demo")
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
