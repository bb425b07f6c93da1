"""``reghook watch --once``: one look of the registry watch, now (docs/cli.md).

Stores what changed in the registry since the last look as ``watch`` events
(a running worker processes them) and lists them.
"""

from __future__ import annotations

import click
from rich.table import Table

from handler.cli.governance import worker_here
from handler.cli.output import cell, console, emit_json, waiting


@click.command("watch")
@click.option("--once", is_flag=True, required=True,
              help="Look once at every policy model and exit (a worker looks every "
                   "REGHOOK_WATCH_INTERVAL_S).")
@click.option("--json", "as_json", is_flag=True)
def watch(once: bool, as_json: bool) -> None:
    """Look at the registry for changes made by hand (Unity Catalog sends no webhooks)."""
    from handler.governance.watch import watch as look_all

    runtime = worker_here()
    assert runtime.context is not None
    with waiting("looking at the registry…"):
        changes = look_all(runtime.context, runtime.store, runtime.store, every_s=0)
    if as_json:
        emit_json({"changes": [{"model": c.model, "type": c.type, "data": c.data,
                                "event_id": c.event_id, "new": c.new} for c in changes]})
        return
    table = Table("event", "model", "change", "what", "")
    for c in changes:
        what = ", ".join(f"{k}={v}" for k, v in c.data.items() if k != "name")
        table.add_row(*map(cell, (c.event_id, c.model, c.type, what,
                                  "" if c.new else "seen before")))
    if changes:
        console.print(table)
    models = len(runtime.context.policies.models)
    console.print(f"{sum(c.new for c in changes)} change(s) stored for {models} policy model(s)",
                  highlight=False)
