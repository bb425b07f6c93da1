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

from handler.store.ledger import Ledger

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


class Comparisons(Ledger):
    """Reads for the comparison: a model's versions side by side, from the ledger."""

    def compare_versions(self, model: str, versions: list[str] | None = None) -> dict[str, Any]:
        """``{"model", "aliases", "versions"}``: what ``GET /api/models/<name>/versions`` answers."""
        moves = self.alias_moves(model)
        return {"model": model, "aliases": holders(moves),
                "versions": compare(self.audit_trail(model, limit=100_000), moves, versions)}


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
