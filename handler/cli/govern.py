"""``reghook govern``: the run-finished flow for a run, or the version flow for a version, now.

``--model NAME --version V`` is made for the approval task of an MLflow 3
deployment job: it exits 0 when the version passed its gates, 1 when it
failed them (the failed gates printed), 2 on a usage or configuration error
(docs/cli.md). A version governed before is not governed again: its
recorded verdict decides.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from handler.cli.governance import process_now, require_known, run_now, worker_here
from handler.cli.output import clean, console, emit_json, err_console, safe


@click.command("govern")
@click.option("--run-id", help="the finished training run to govern")
@click.option("--model", help="registered model name (with --run-id: else the run's experiment "
                              "picks the policy)")
@click.option("--version", "version", help="with --model: govern this registered version")
@click.option("--json", "as_json", is_flag=True)
def govern(run_id: str | None, model: str | None, version: str | None, as_json: bool) -> None:
    """Govern a finished run (--run-id) or a registered version (--model --version) now."""
    if version is not None:
        if run_id is not None or not model:
            raise click.UsageError("--version needs --model, and no --run-id")
        govern_version(model, version, as_json)
        return
    if not run_id:
        raise click.UsageError("give --run-id RUN, or --model NAME --version V")
    runtime = worker_here()
    require_known(runtime, model, run_id=run_id)
    run_now("run.finished", {"type": "run.finished", "run_id": run_id,
                             **({"model": model} if model else {})}, as_json, runtime)


def govern_version(model: str, version: str, as_json: bool) -> None:
    """Validate one version (unless already governed) and exit by its verdict."""
    runtime = worker_here()
    require_known(runtime, model, version=version)
    event = process_now(runtime, "version.govern.requested", {"model": model, "version": version})
    verdict = runtime.store.last_verdict(model, version)
    gates = _gates(runtime.store.audit_trail(model), version)
    if as_json:
        emit_json({"event_id": event["id"], "model": model, "version": version,
                   "status": verdict, "event_status": event["status"],
                   "error": event["last_error"], "gates": gates})
    else:
        _print_verdict(model, version, verdict, gates, event)
    if verdict != "passed":
        sys.exit(1)


def _gates(entries: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    """The gates of the version's latest validation in the audit trail."""
    validated = [e for e in entries if e["kind"] == "validated" and e["version"] == version]
    return list(validated[-1]["detail"].get("gates", [])) if validated else []


def _print_verdict(model: str, version: str, verdict: str | None, gates: list[dict[str, Any]],
                   event: dict[str, Any]) -> None:
    if verdict is None:
        err_console.print(f"[red]not governed[/red] {safe(model)} v{safe(version)}: "
                          f"{safe(event['last_error'] or event['reason'])}", highlight=False)
        return
    colour = "green" if verdict == "passed" else "red"
    console.print(f"[{colour}]{safe(verdict)}[/] {safe(model)} v{safe(version)}  "
                  f"(event {safe(event['id'])})", highlight=False)
    for gate in gates:
        mark = "ok  " if gate.get("passed") else "FAIL"
        console.print(clean(f"  {mark} {gate.get('gate')}: observed {gate.get('observed')!r}, "
                            f"expected {gate.get('expected')!r} {gate.get('detail') or ''}"),
                      markup=False, highlight=False)
