"""Commands over stored events: ``events list``, ``events show``, ``events purge`` and ``replay``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from handler.cli.inputs import load_settings, open_store, since_bound
from handler.cli.output import clean, console, emit_json, err_console, events_table, safe
from handler.errors import Conflict

# An event's statuses (docs/cli.md#events-list); a typo is a usage error, not "no events".
EVENT_STATUSES = ("queued", "processing", "done", "ignored", "failed", "rejected")
STATUS = click.Choice(EVENT_STATUSES)


@click.group("events")
def events_group() -> None:
    """Stored events."""


@events_group.command("list")
@click.option("--status", type=STATUS)
@click.option("--source")
@click.option("--type", "event_type")
@click.option("--since", help="24h, 30m, 7d or an ISO time")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--before", metavar="EVT_ID", help="the next page: events listed after this one")
@click.option("--json", "as_json", is_flag=True)
def events_list(status: str | None, source: str | None, event_type: str | None,
                since: str | None, limit: int, before: str | None, as_json: bool) -> None:
    """List stored events, newest first."""
    since_dt = since_bound(since)  # a bad --since is reported before the store is opened
    rows, cursor = open_store(load_settings()).page_events(
        status=status, source=source, event_type=event_type, since=since_dt,
        limit=limit, before=before)
    if as_json:
        emit_json({"events": rows, "next": cursor})
    elif not rows:
        err_console.print("no events")
    else:
        console.print(events_table(rows))
        if cursor:
            err_console.print(f"more: --before {cursor}", highlight=False)


@events_group.command("show")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True)
def events_show(event_id: str, as_json: bool) -> None:
    """Show one event with its body, attempts and the actions it caused."""
    found = open_store(load_settings()).get_event(event_id)
    if found is None:
        err_console.print(f"[red]no event {safe(event_id)}[/red]")
        sys.exit(1)
    if as_json:
        emit_json(found)
        return
    console.print(events_table([found]))
    console.print("[bold]headers[/bold]")
    for name, value in found["headers"].items():
        _plain(f"  {clean(name)}: {clean(value)}")
    console.print("[bold]body[/bold]")
    _plain(_readable_body(found["body"]))
    for attempt in found["attempt_log"]:
        _plain(f"attempt {attempt['number']} by {attempt['worker']}: "
               f"{attempt['outcome']} {attempt['error'] or ''}")
    for action in found["actions"]:
        _plain(f"{action['at']} {action['kind']} {action['model']} v{action['version']} "
               f"{action['alias'] or ''} by {action['actor']}")


def _plain(line: str) -> None:
    """One line of stored data: control characters shown as ``?``, no markup, no highlighting."""
    console.print(clean(line), markup=False, highlight=False, emoji=False)


def _readable_body(body: str) -> str:
    """A JSON body indented (escapes such as ``\\u001b`` stay escapes), any other body as it is."""
    try:
        # ensure_ascii keeps C1 controls and bidi overrides written as escapes.
        return json.dumps(json.loads(body), indent=2, ensure_ascii=True)
    except ValueError:  # a rejected body need not be JSON
        return body


@click.command("replay")
@click.argument("event_ids", nargs=-1)
@click.option("--status", type=STATUS, help="Replay every event in this status (e.g. failed).")
@click.option("--since", help="With --status: only events received since (24h, ISO time).")
@click.option("--dry-run", is_flag=True, help="Show what would be replayed.")
@click.option("--json", "as_json", is_flag=True)
def replay(event_ids: tuple[str, ...], status: str | None, since: str | None,
           dry_run: bool, as_json: bool) -> None:
    """Queue stored events again (a copy with replay_of; the original is kept)."""
    if not event_ids and not status:
        raise click.UsageError("say what to replay: event ids (reghook replay EVT_ID...) or a "
                               "status (reghook replay --status failed [--since 24h])")
    if event_ids and status:
        raise click.UsageError("give event ids or --status, not both")
    since_dt = since_bound(since)
    store = open_store(load_settings())
    ids = list(event_ids) or store.event_ids(status=status or "", since=since_dt)
    if dry_run:
        emit_json({"would_replay": ids}) if as_json else console.print(
            f"would replay {len(ids)} event(s)", *map(clean, ids), markup=False)
        return
    results, missing, refused = _replay_each(store, ids, quiet=len(ids) < 10 or as_json)
    if as_json:
        emit_json({"replayed": results, "missing": missing, "refused": refused})
    else:
        for item in results:
            console.print(f"{safe(item['replay_of'])} → {safe(item['event_id'])} queued")
        for event_id in missing:
            err_console.print(f"[red]no event {safe(event_id)}[/red]")
        for item in refused:
            err_console.print(f"[red]{safe(item['event_id'])}: {safe(item['reason'])}[/red]")
    if missing or refused:
        sys.exit(1)


def _replay_each(store: Any, ids: list[str], *, quiet: bool
                 ) -> tuple[list[dict[str, str]], list[str], list[dict[str, str]]]:
    """Replay each id; return (replayed, missing ids, refused with reason)."""
    from rich.progress import track

    results: list[dict[str, str]] = []
    missing: list[str] = []
    refused: list[dict[str, str]] = []
    for event_id in track(ids, description="replaying", console=err_console, disable=quiet):
        try:
            new_id = store.replay(event_id)
        except Conflict as exc:
            refused.append({"event_id": event_id, "reason": exc.detail})
            continue
        if new_id:
            results.append({"event_id": new_id, "replay_of": event_id})
        else:
            missing.append(event_id)
    return results, missing, refused


@events_group.command("purge")
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="90d, 2160h or an ISO time; at least 30d (the dedupe window)")
@click.option("--dry-run", is_flag=True, help="Count what would be purged and kept; delete nothing.")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 10000),
              help="events deleted per transaction")
@click.option("--json", "as_json", is_flag=True)
def events_purge(older_than: str, dry_run: bool, batch: int, as_json: bool) -> None:
    """Delete finished events older than AGE with their attempts (docs/processing.md#retention).

    Never an event younger than 30 days, still queued or processing, or owing
    a notification. The audit trail and alias history are kept: export them
    with ``reghook history MODEL --json --since ... --until ...``.
    """
    from datetime import UTC, datetime

    from rich.progress import Progress

    from handler.since import SinceError, parse_since
    from handler.store.retention import CutoffTooRecent

    now = datetime.now(UTC)
    try:
        cutoff = parse_since(older_than, now)
        assert cutoff is not None  # required=True: never empty
        store = open_store(load_settings())
        plan = store.purge_plan(cutoff, now)
    except (SinceError, CutoffTooRecent) as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    summary = {"cutoff": plan.cutoff.isoformat(), "dry_run": dry_run,
               "kept_unfinished": plan.kept_unfinished, "kept_for_outbox": plan.kept_for_outbox}
    if dry_run:
        _purge_report({**summary, "would_purge": plan.purgeable}, as_json)
        return
    with Progress(console=err_console, disable=as_json or plan.purgeable < 1000,
                  transient=True) as progress:
        task = progress.add_task("purging", total=plan.purgeable)
        purged = store.purge_events(plan.cutoff, now, batch=batch,
                                    progress=lambda n: progress.advance(task, n))
    _purge_report({**summary, "purged": purged}, as_json)


def _purge_report(summary: dict[str, Any], as_json: bool) -> None:
    """The purge's counts as JSON or one line each."""
    if as_json:
        emit_json(summary)
        return
    done = (f"would purge {summary['would_purge']}" if summary["dry_run"]
            else f"purged {summary['purged']}")
    console.print(f"{done} event(s) received before {summary['cutoff']}", highlight=False)
    if summary["kept_unfinished"] or summary["kept_for_outbox"]:
        console.print(f"kept {summary['kept_unfinished']} still queued or processing, "
                      f"{summary['kept_for_outbox']} owing a notification", highlight=False)
