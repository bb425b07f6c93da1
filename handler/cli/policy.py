"""``reghook policy check | init | schema``: the policy file (docs/policy.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from handler.cli.inputs import load_settings
from handler.cli.output import console, err_console, safe


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
            err_console.print(f"[red]✗[/red] {safe(error)}", highlight=False)
        sys.exit(2)
    assert loaded is not None
    console.print(f"[green]✓[/green] {safe(path)}: {len(loaded.models)} model(s), "
                  f"channels: {safe(', '.join(loaded.effective_channels))}", highlight=False)


@policy_group.command("init")
@click.argument("path", required=False)
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def policy_init(path: str | None, force: bool) -> None:
    """Write a commented starter policy to PATH (default REGHOOK_POLICY); edit it, then check it."""
    from handler.policy_template import STARTER_POLICY

    target = Path(path or load_settings().policy)
    if target.exists() and not force:
        raise click.UsageError(f"{target} exists: pass --force to overwrite it")
    try:
        target.write_text(STARTER_POLICY, encoding="utf-8")
    except OSError as exc:
        raise click.UsageError(f"cannot write {target}: {exc.strerror}") from None
    err_console.print(f"wrote {safe(target)}: edit the model name, experiment and gates, "
                      f"then run reghook policy check {safe(target)}", highlight=False)


@policy_group.command("schema")
def policy_schema() -> None:
    """Print the policy file's JSON Schema (for editors and CI)."""
    from handler.policy_template import policy_json_schema

    click.echo(json.dumps(policy_json_schema(), indent=2, sort_keys=True))
