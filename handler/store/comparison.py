"""Version comparison as data, read from the ledger alone (docs/console.md, docs/admin-api.md).

The console runs in the web process, which never talks to the registry, so
everything a comparison shows was recorded when reghook governed the
version: the ``validated`` audit entry carries the gates and the run's
facts, ``promoted`` entries (and hand moves the guard allowed) name the
approver, ``rolled_back`` and ``deprecated`` entries mark versions out of the
running, and the alias history says who held which alias when.
:func:`compare` is pure; :class:`Comparisons` reads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, or_, select

from handler.store.ledger import Ledger
from handler.store.rows import alias_move_json, audit_json
from handler.store.tables import alias_history, audit

# Audit kinds that change what a version's status reads as, after its verdict.
STATUS_KINDS = {"rolled_back": "rolled_back", "deprecated": "deprecated"}


def _tenure(moves: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per version, each spell it held an alias: ``{alias, from, until, event_id}``.

    ``until`` is None while the version still holds the alias.
    """
    spells: dict[str, list[dict[str, Any]]] = {}
    open_spell: dict[str, dict[str, Any]] = {}  # alias -> the spell in progress
    for move in moves:  # oldest first
        alias = move["alias"]
        current = open_spell.pop(alias, None)
        if current is not None:
            if current["version"] == move["version"]:
                open_spell[alias] = current  # re-recorded for the same holder: one spell
                continue
            current["spell"]["until"] = move["at"]
        if move["version"] is not None:
            spell = {"alias": alias, "from": move["at"], "until": None,
                     "event_id": move["event_id"], "actor": move["actor"]}
            spells.setdefault(move["version"], []).append(spell)
            open_spell[alias] = {"version": move["version"], "spell": spell}
    return spells


def holders(moves: list[dict[str, Any]]) -> dict[str, str | None]:
    """Each alias's current holder by the alias history (None: removed)."""
    current: dict[str, str | None] = {}
    for move in moves:
        current[move["alias"]] = move["version"]
    return current


def _blank(version: str) -> dict[str, Any]:
    return {"version": version, "status": None, "validated_at": None, "event_id": None,
            "run_id": None, "author": None, "gates": [], "metrics": {}, "datasets": [],
            "signature": None, "approver": None, "approved_at": None, "deprecated_at": None,
            "tenure": [], "aliases": []}


def compare(entries: list[dict[str, Any]], moves: list[dict[str, Any]],
            versions: list[str] | None = None) -> list[dict[str, Any]]:
    """One record per version (oldest first): gates, run facts, status, approver, tenure.

    ``entries`` and ``moves`` are a model's audit trail and alias history,
    oldest first; ``versions`` limits the result (default: every version
    reghook recorded a verdict for, or that held an alias).
    """
    found: dict[str, dict[str, Any]] = {}
    for entry in entries:
        version = entry["version"]
        if version is None:
            continue
        detail = entry["detail"]
        if entry["kind"] == "validated":
            record = found.setdefault(version, _blank(version))
            record.update(status=detail.get("status"), validated_at=entry["at"],
                          event_id=entry["event_id"], gates=detail.get("gates", []),
                          run_id=detail.get("run_id"), author=detail.get("author"),
                          metrics=detail.get("metrics", {}),
                          datasets=detail.get("datasets", []),
                          signature=detail.get("signature"))
        elif entry["kind"] == "promoted" and version in found:
            found[version].update(approver=detail.get("approver") or entry["actor"],
                                  approved_at=entry["at"])
        elif entry["kind"] == "alias_set" and detail.get("approver") and version in found:
            # A hand move the guard allowed: the approval tag named the approver.
            found[version].update(approver=detail["approver"], approved_at=entry["at"])
        elif entry["kind"] == "rolled_back":
            gone = detail.get("from_version")
            if gone in found:
                found[gone]["status"] = STATUS_KINDS["rolled_back"]
        elif entry["kind"] in STATUS_KINDS and version in found:
            found[version]["status"] = STATUS_KINDS[entry["kind"]]
            if entry["kind"] == "deprecated":
                found[version]["deprecated_at"] = detail.get("deprecated_at") or entry["at"]
    for version, spells in _tenure(moves).items():
        found.setdefault(version, _blank(version))["tenure"] = spells
    for alias, version in holders(moves).items():
        if version in found:
            found[version]["aliases"].append(alias)
    wanted = versions if versions else sorted(found, key=_version_order)
    return [found.get(v) or _blank(v) for v in wanted]


def _version_order(version: str) -> tuple[int, str]:
    # Registry versions are integers; anything else sorts after them, as text.
    return (int(version), "") if version.isdigit() else (1 << 62, version)


def _entries_of(connection: Connection, model: str, versions: list[str]) -> list[Any]:
    """The audit entries that can change the named versions' records, oldest first.

    Their own entries through ``audit (model, version, id)``, and the model's
    rollbacks through ``audit (model, kind, ...)``: a rollback names the
    version it took off the alias in its detail, not in ``version``.
    """
    own = connection.execute(select(audit).where(
        audit.c.model == model, audit.c.version.in_(versions))).all()
    rollbacks = connection.execute(select(audit).where(
        audit.c.model == model, audit.c.kind == "rolled_back")).all()
    return sorted({row.id: row for row in [*own, *rollbacks]}.values(), key=lambda r: r.id)


def _moves_of(connection: Connection, model: str, versions: list[str]) -> list[Any]:
    """The alias moves that open or close the named versions' spells, oldest first.

    A spell opens with a move to the version and closes with the next move of
    the same alias to another version (or none): one probe of ``alias_history
    (model, alias, id)`` per opening, however long the model's history.
    """
    opened = connection.execute(select(alias_history).where(
        alias_history.c.model == model, alias_history.c.version.in_(versions))).all()
    closing: list[Any] = []
    for move in opened:
        closing += connection.execute(select(alias_history).where(
            alias_history.c.model == model, alias_history.c.alias == move.alias,
            alias_history.c.id > move.id,
            or_(alias_history.c.version.is_(None), alias_history.c.version != move.version))
            .order_by(alias_history.c.id).limit(1)).all()
    return sorted({row.id: row for row in [*opened, *closing]}.values(), key=lambda r: r.id)


def _holders_of(connection: Connection, model: str) -> dict[str, str | None]:
    """Each alias's latest move: its holder now (None: removed)."""
    latest = select(func.max(alias_history.c.id)).where(
        alias_history.c.model == model).group_by(alias_history.c.alias)
    rows = connection.execute(select(alias_history.c.alias, alias_history.c.version).where(
        alias_history.c.id.in_(latest))).all()
    return {row.alias: row.version for row in sorted(rows, key=lambda r: r.alias)}


class Comparisons(Ledger):
    """Reads for the comparison: a model's versions side by side, from the ledger."""

    def compare_versions(self, model: str, versions: list[str] | None = None) -> dict[str, Any]:
        """``{"model", "aliases", "versions"}``: what ``GET /api/models/<name>/versions`` answers.

        Named versions read only the rows that concern them, by index, so a
        comparison of a few versions costs the same at thousands of versions
        per model; without names every version is answered, which reads the
        model's whole trail.
        """
        if not versions:
            moves = self.alias_moves(model)
            return {"model": model, "aliases": holders(moves),
                    "versions": compare(self.audit_trail(model, limit=100_000), moves)}
        with self.tx.read() as connection:
            entries = _entries_of(connection, model, versions)
            moves = _moves_of(connection, model, versions)
            aliases = _holders_of(connection, model)
        found = compare([audit_json(r) for r in entries], [alias_move_json(r) for r in moves],
                        versions)
        for record in found:
            # Holders come from the latest moves, not from the moves read above.
            record["aliases"] = [a for a, v in aliases.items() if v == record["version"]]
        return {"model": model, "aliases": aliases, "versions": found}


# --- the comparison as rows of text: one per fact, a cell per version -------------------

def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _gate_cell(gate: dict[str, Any] | None) -> dict[str, Any]:
    if gate is None:
        return {"text": "—", "ok": None}
    observed, expected = gate.get("observed"), gate.get("expected")
    if isinstance(observed, (int, float)) and not isinstance(observed, bool):
        text = _number(observed) + (f" (want {expected})" if expected else "")
        if gate.get("detail") and not expected:
            text += f" — {gate['detail']}"
    else:
        text = gate.get("detail") or ""
    return {"text": text, "ok": bool(gate.get("passed"))}


def _signature_text(signature: dict[str, str] | None) -> str:
    if not signature:
        return "not read"
    return f"{len(signature)} columns: " + ", ".join(f"{k} {v}" for k, v in signature.items())


def _tenure_text(spells: list[dict[str, Any]]) -> str:
    return "; ".join(f"{s['alias']} {(s['from'] or '')[:16].replace('T', ' ')} → "
                     f"{(s['until'] or 'now')[:16].replace('T', ' ')}" for s in spells) or "—"


def rows(versions: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The comparison as ``(label, cells)`` rows; a cell is ``{"text", "ok"}`` (ok: None = no verdict).

    Gates first (in the policy's order), then the run's metrics, dataset,
    signature, status, author, approver and alias tenure: what both the
    console and ``reghook compare`` show.
    """
    gate_names = list(dict.fromkeys(g["gate"] for v in versions for g in v["gates"]))
    metric_names = sorted({m for v in versions for m in v["metrics"]})
    table: list[tuple[str, list[dict[str, Any]]]] = []
    for name in gate_names:
        table.append((f"gate {name}", [_gate_cell(next(
            (g for g in v["gates"] if g["gate"] == name), None)) for v in versions]))
    for name in metric_names:
        table.append((f"metric {name}", [{"text": _number(v["metrics"][name])
                                          if name in v["metrics"] else "—", "ok": None}
                                         for v in versions]))

    def plain(label: str, text_of: Any) -> None:
        table.append((label, [{"text": text_of(v), "ok": None} for v in versions]))

    plain("dataset", lambda v: "; ".join(f"{d['name']} ({d['source']})" for d in v["datasets"])
          or "—")
    plain("signature", lambda v: _signature_text(v["signature"]))
    plain("status", lambda v: (v["status"] or "not governed")
          + (f" since {v['deprecated_at'][:10]}" if v.get("deprecated_at") else ""))
    plain("run", lambda v: v["run_id"] or "—")
    plain("author", lambda v: v["author"] or "—")
    plain("approver", lambda v: v["approver"] or "—")
    plain("aliases now", lambda v: ", ".join(v["aliases"]) or "—")
    plain("alias tenure", lambda v: _tenure_text(v["tenure"]))
    return table
