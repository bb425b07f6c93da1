"""``reghook compare MODEL [V…]``: versions side by side, as recorded when reghook governed them.

Reads the event store only (docs/cli.md): the same data as
``GET /api/models/<name>/versions`` and the console's comparison table.
"""

from __future__ import annotations

import sys

import click
from rich.table import Table

from handler.cli.inputs import load_settings, open_store
from handler.cli.output import console, emit_json, err_console


@click.command("compare")
@click.argument("model")
@click.argument("versions", nargs=-1)
@click.option("--json", "as_json", is_flag=True)
def compare(model: str, versions: tuple[str, ...], as_json: bool) -> None:
    """A column per version: gates (observed vs expected), metrics, dataset, signature,
    status, approver and alias tenure. Default: every version reghook governed."""
    from handler.store.comparison import rows

    result = open_store(load_settings()).compare_versions(model, list(versions) or None)
    if as_json:
        emit_json(result)
        return
    if not result["versions"]:
        err_console.print(f"no governed versions of {model}")
        sys.exit(1)
    table = Table(title=f"{model}: versions compared", header_style="bold", show_lines=True)
    table.add_column("", style="bold", no_wrap=True)
    for version in result["versions"]:
        table.add_column(f"v{version['version']}", overflow="fold")
    for label, cells in rows(result["versions"]):
        table.add_row(label, *(_cell(c) for c in cells))
    console.print(table)


def _cell(cell: dict[str, object]) -> str:
    # The mark reads without colour too: "ok" / "FAIL" beside the value.
    text = str(cell["text"]).replace("[", r"\[")
    if cell["ok"] is None:
        return text
    return f"[green]ok[/] {text}" if cell["ok"] else f"[red]FAIL[/] {text}"
