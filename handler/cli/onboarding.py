"""Commands for setting reghook up and trying it out.

``webhooks install mlflow|databricks``, ``emit run-finished`` and ``demo``.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn
from urllib.parse import urlsplit

import click

from handler.cli.inputs import load_settings
from handler.cli.output import console, err_console, waiting
from handler.errors import ConfigError
from handler.events import MLFLOW_EVENT_TYPES

# The Workspace Model Registry events reghook acts on or records.
DATABRICKS_EVENT_TYPES = ("MODEL_VERSION_CREATED", "MODEL_VERSION_TAG_SET", "TRANSITION_REQUEST_CREATED",
                          "MODEL_VERSION_TRANSITIONED_STAGE", "REGISTERED_MODEL_CREATED",
                          "COMMENT_CREATED")


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
    from mlflow.exceptions import MlflowException

    from handler.bootstrap import tracking_server

    settings = load_settings()
    secrets = settings.mlflow_secret_list
    if not secrets:
        fail("set REGHOOK_MLFLOW_SECRETS first: the webhook must be signed", 2)
    try:
        tracking_server(settings)
    except ConfigError as exc:
        fail(str(exc), 2)
    target = _route(url, "/webhooks/mlflow")
    # mlflow types the list as its own Literal; the shared tuple holds exactly those strings.
    events: list[Any] = list(MLFLOW_EVENT_TYPES)
    try:
        with waiting(f"creating the webhook on {settings.mlflow_tracking_uri}…"):
            created = MlflowClient().create_webhook(name=name, url=target, events=events,
                                                    secret=secrets[0])
    except MlflowException as exc:
        fail(f"the MLflow server at {settings.mlflow_tracking_uri} refused the webhook: "
             f"{exc.message[:300]}{mlflow_server_hint(target)}", 1)
    console.print(f"created MLflow webhook {created.webhook_id} → {target}", markup=False)


def mlflow_server_hint(target: str) -> str:
    """What a stock MLflow server needs to deliver to ``target`` (docs/configuration.md).

    MLflow accepts only https webhook URLs to public addresses unless the
    server runs with the settings named here.
    """
    import ipaddress

    parts = urlsplit(target)
    needs = []
    if parts.scheme == "http":
        needs.append("MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https (for a plain http URL)")
    host = parts.hostname or ""
    try:
        private = not ipaddress.ip_address(host).is_global
    except ValueError:
        private = host == "localhost" or "." not in host or host.endswith((".local", ".internal"))
    if private:
        needs.append("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true (for a loopback or private address)")
    if not needs:
        return ""
    return " — start the MLflow server with " + " and ".join(needs)


def fail(message: str, code: int) -> NoReturn:
    """Print one line on stderr (no traceback, no wrapping) and exit with ``code``."""
    click.echo(f"reghook: {' '.join(message.split())}", err=True)
    sys.exit(code)


@webhooks_install.command("databricks")
@click.option("--url", required=True, help="reghook's base URL (or its /webhooks/databricks URL)")
@click.option("--model", help="only this model's events (default: the whole registry)")
def install_databricks(url: str, model: str | None) -> None:
    """Create a Workspace Model Registry webhook (DATABRICKS_HOST / DATABRICKS_TOKEN or a profile)."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors.base import DatabricksError
    from databricks.sdk.service import ml

    from handler.emit import databricks_auth_problem

    settings = load_settings()
    secrets = settings.databricks_secret_list
    if not secrets:
        fail("set REGHOOK_DATABRICKS_SECRETS first: the webhook must be signed", 2)
    authorization = (settings.databricks_authorization.get_secret_value()
                     if settings.databricks_authorization else None)
    try:
        workspace = WorkspaceClient()
    except ValueError as exc:
        fail(databricks_auth_problem(exc), 2)
    try:
        with waiting("creating the webhook on the Databricks workspace…"):
            created = workspace.model_registry.create_webhook(
                events=[ml.RegistryWebhookEvent(e) for e in DATABRICKS_EVENT_TYPES],
                model_name=model, status=ml.RegistryWebhookStatus.ACTIVE,
                http_url_spec=ml.HttpUrlSpec(url=_route(url, "/webhooks/databricks"),
                                             secret=secrets[0], authorization=authorization))
    except (DatabricksError, ValueError, OSError) as exc:
        fail(f"Databricks refused the webhook: {type(exc).__name__}: {exc}", 1)
    webhook = created.webhook
    console.print(f"created Databricks webhook {webhook.id if webhook else '?'}", markup=False)


@click.group("emit")
def emit_group() -> None:
    """Send signed events to a reghook."""


@emit_group.command("run-finished")
@click.option("--url", required=True,
              help="reghook's base URL or its events URL (a Databricks App: https://<app>/api/v1/events)")
@click.option("--run-id", required=True)
@click.option("--model", help="registered model name (else the policy's experiment decides)")
@click.option("--secret", envvar="REGHOOK_EMIT_SECRET",
              help="whsec_… (default: the first of REGHOOK_EVENTS_SECRETS)")
@click.option("--databricks-auth", is_flag=True,
              help="add a Databricks OAuth token (DATABRICKS_* or a profile): reghook as a Databricks App")
@click.option("--max-attempts", default=5, show_default=True, type=click.IntRange(1, 20),
              help="tries in all when reghook is unreachable or answers 429/5xx")
@click.option("--max-wait", "max_wait_s", default=60.0, show_default=True,
              type=click.FloatRange(0, 3600), help="stop retrying after this many seconds")
def emit_run_finished(url: str, run_id: str, model: str | None, secret: str | None,
                      databricks_auth: bool, max_attempts: int, max_wait_s: float) -> None:
    """Post a signed run.finished event (a training job's last step); retried while reghook is down."""
    import requests

    from handler import emit

    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        fail(f"--url must be an http(s) URL, not {url!r}", 2)
    secret = secret or next(iter(load_settings().events_secret_list), None)
    if not secret:
        fail("no secret: pass --secret or set REGHOOK_EMIT_SECRET or REGHOOK_EVENTS_SECRETS", 2)
    auth = None
    if databricks_auth:
        try:
            auth = emit.databricks_auth()
        except emit.DatabricksAuthMissing as exc:
            fail(str(exc), 2)
    target = emit.events_url(url, api=databricks_auth)
    shown = emit.shown_url(target)
    click.echo(f"posting run.finished for run {run_id} to {shown}", err=True)
    retries: list[int] = []

    def tell_retry(attempt: int, failure: str, wait_s: float) -> None:
        retries.append(attempt)
        click.echo(f"attempt {attempt} failed ({failure}); retrying in {wait_s:.1f} s", err=True)

    try:
        response = emit.post_run_finished(
            target, secret, run_id, model, auth=auth, attempts=max_attempts,
            max_wait_s=max_wait_s, on_retry=tell_retry)
    except requests.RequestException as exc:
        fail(f"could not reach {shown} ({emit.failure_name(exc)}); gave up after "
             f"{len(retries) + 1} attempt(s)", 1)
    except Exception as exc:  # noqa: BLE001 - a token refresh may fail in many ways; say which
        fail(f"could not post to {shown}: {type(exc).__name__}: {exc}", 1)
    _report_answer(response, shown, databricks_auth, attempts=len(retries) + 1)


def _report_answer(response: Any, shown: str, databricks_auth: bool, *, attempts: int) -> None:
    """Print reghook's answer; exit 0 for a 2xx, else 1 with one line saying why."""
    text = " ".join(response.text.split())[:300]
    if 200 <= response.status_code < 300:
        click.echo(text)
        sys.exit(0)
    hint = f" (after {attempts} attempts)" if attempts > 1 else ""
    if response.status_code in (401, 403) and not databricks_auth:
        hint += " (a reghook served as a Databricks App needs --databricks-auth)"
    elif 300 <= response.status_code < 400:
        hint += f" (redirected to {_location(response)}: a sign-in page? try --databricks-auth)"
    fail(f"{shown} answered {response.status_code} {response.reason}{hint}: {text or '-'}", 1)


def _location(response: Any) -> str:
    """Where a redirect points, without its query (it may carry state or tokens)."""
    from handler.emit import shown_url

    location = response.headers.get("Location", "")
    return shown_url(location) if location else "?"


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
