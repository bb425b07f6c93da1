"""bench/govern.py's figures: latency and REST calls per side and model size, targets, the table."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

import _report as report
from _calls import CallCounter, Scope, per_scope, timeline

# Each side governs its own models: the same sizes, the same versions added per event.
MODELS = {size: {"reghook": f"bench.reghook_{size}", "by-hand": f"bench.hand_{size}",
                 "floor": f"bench.floor_{size}"} for size in ("small", "large")}
BASELINES = ("by-hand", "floor")
TARGETS = {"latency_ratio_max": 1.25,  # reghook (202 → tagged + aliased) ≤ 1.25x by hand
           "floor_ratio_max": 1.5,     # ... and ≤ 1.5x the floor: create with tags + one alias
           "echo_calls_max": 1,        # an echo of reghook's own write costs ≤ 1 REST call
           # reghook at 1,000 versions ≤ 1.10x at 1, or a shift the samples cannot tell from
           # zero (90% bootstrap interval); the same calls per event; no endpoint slower.
           "growth_max": 1.10}
# Sample keys (ms) summarized per side; the stages of reghook's events stay in the samples.
KEYS = {"reghook": ("accepted_to_done", "sent_to_done", "call", "outside_calls",
                    "claimed_to_first_call", "last_call_to_done"),
        "by-hand": ("elapsed", "call"), "floor": ("elapsed", "call")}
MAIN = {"reghook": "accepted_to_done", "by-hand": "elapsed", "floor": "elapsed"}


def summarize_latency(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Latency statistics per side and size, the ratios to each baseline and the growth."""
    def values(side: str, size: str, key: str) -> list[float]:
        return [s[f"{key}_ms"] for s in samples
                if s["phase"] == "timed" and s["side"] == side and s["size"] == size]

    out: dict[str, Any] = {side: {size: {k: report.stats(values(side, size, k)) for k in keys}
                                  for size in MODELS} for side, keys in KEYS.items()}
    out["ratio"] = {base: {size: {q: report.ratio(out["reghook"][size][MAIN["reghook"]][q],
                                                  out[base][size][MAIN[base]][q])
                                  for q in ("median", "p90")} for size in MODELS}
                    for base in BASELINES}
    out["growth"] = {}
    for side, key in MAIN.items():
        small, large = values(side, "small", key), values(side, "large", key)
        medians = [statistics.median(v) if v else None for v in (small, large)]
        out["growth"][side] = {
            "median": report.ratio(medians[1], medians[0]),
            "median_delta_ms": round(medians[1] - medians[0], 1) if None not in medians else None,
            "median_delta_ci90_ms": report.median_shift_ci(small, large)}
    return out


def grown_endpoints(scopes: dict[str, list[Scope]], min_ms: float = 2.0) -> list[str]:
    """Endpoints clearly slower on the large model: the whole 90% interval of the shift of
    their median ms per event above ``min_ms`` (the whole event can hide one in noise)."""
    ms: dict[str, dict[str, list[float]]] = defaultdict(lambda: {size: [] for size in MODELS})
    for size, found in scopes.items():
        for scope in found:
            for name, seconds in scope.seconds_by.items():
                ms[name][size].append(seconds * 1000)
    return [f"{name} {statistics.median(v['small']):.0f}->{statistics.median(v['large']):.0f} ms"
            for name, v in sorted(ms.items())
            if (ci := report.median_shift_ci(v["small"], v["large"])) and ci[0] > min_ms]


def median_timeline(scopes: list[Scope], samples: list[dict[str, Any]]) -> list[str]:
    """The call sequence of the governed version whose latency was the median one."""
    ms = {s["event_id"]: s["accepted_to_done_ms"] for s in samples if "event_id" in s}
    timed = sorted((ms[s.meta["event_id"]], i) for i, s in enumerate(scopes)
                   if s.meta["event_id"] in ms)
    return timeline(scopes[timed[len(timed) // 2][1]]) if timed else []


def summarize_calls(counter: CallCounter, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """REST calls per governed version and per baseline sequence (timed), and per echo by type."""
    timed = {s["event_id"] for s in samples if s["side"] == "reghook" and s["phase"] == "timed"}
    ours = {size: [s for s in counter.select(side="reghook", kind="run.finished",
                                             model=models["reghook"])
                   if s.meta["event_id"] in timed] for size, models in MODELS.items()}
    found = {"reghook": ours, **{base: {size: counter.select(side=base, model=models[base],
                                                             phase="timed")
                                        for size, models in MODELS.items()}
                                 for base in BASELINES}}
    echoes: dict[str, list[Scope]] = defaultdict(list)
    for scope in counter.select(side="reghook", kind="echo"):
        echoes[scope.meta["type"]].append(scope)
    return {"per_event": {side: {size: per_scope(scopes) for size, scopes in by_size.items()}
                          for side, by_size in found.items()},
            "timeline": {size: median_timeline(scopes, samples) for size, scopes in ours.items()},
            "grown_endpoints": grown_endpoints(ours),
            "echo": {kind: per_scope(scopes) for kind, scopes in echoes.items()}}


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: the figure, and whether it is met."""
    latency, calls = results["latency"], results["calls"]
    rows = [{"target": f"latency <= {TARGETS[key]}x {name}", "where": f"{size} model",
             "figure": f"median {r['median']}x, p90 {r['p90']}x",
             "met": r["median"] is not None and r["median"] <= TARGETS[key]}
            for base, key, name in (("by-hand", "latency_ratio_max", "by hand"),
                                    ("floor", "floor_ratio_max", "floor"))
            for size, r in latency["ratio"][base].items()]
    worst = max((e["max_calls"] for e in calls["echo"].values()), default=None)
    rows.append({"target": f"echo <= {TARGETS['echo_calls_max']} REST call each",
                 "where": ", ".join(f"{t} x{e['count']}" for t, e in calls["echo"].items()) or "none",
                 "figure": "no echoes seen" if worst is None else f"max {worst} calls",
                 "met": worst is not None and worst <= TARGETS["echo_calls_max"]})
    ours, grown = latency["growth"]["reghook"], calls["grown_endpoints"]
    ci = ours["median_delta_ci90_ms"]
    within_noise = ours["median"] is not None and (ours["median"] <= TARGETS["growth_max"]
                                                   or (ci is not None and ci[0] <= 0))
    counts = [calls["per_event"]["reghook"][size]["median_calls"] for size in MODELS]
    rows.append({"target": "no growth at many versions",
                 "where": f"{results['plan']['versions']} versions",
                 "figure": f"reghook {ours['median']}x ({ours['median_delta_ms']:+} ms, 90% CI "
                           f"{report.ci(ci)}), calls {counts[0]} -> {counts[1]}; slower endpoints: "
                           f"{'; '.join(grown) or 'none'}",
                 "met": within_noise and counts[0] == counts[1] and not grown})
    return rows


def table(results: dict[str, Any]) -> str:
    """The summary printed at the end of a run."""
    plan, latency, calls, setup = results["plan"], results["latency"], results["calls"], results["setup"]
    rows: list[list[Any]] = [["latency, ms", "n", "median", "p90", "min", "max"]]
    for side, key in (("reghook", "accepted_to_done"), ("reghook", "sent_to_done"),
                      ("reghook", "call"), ("reghook", "outside_calls"),
                      ("reghook", "claimed_to_first_call"), ("reghook", "last_call_to_done"),
                      ("by-hand", "elapsed"), ("floor", "elapsed")):
        rows += [[f"{side} {size}: {key}", (s := latency[side][size][key])["n"],
                  *(report.num(s[k]) for k in rows[0][2:])] for size in MODELS]
    per_event = [(f"{side} {size}", c) for side, by_size in calls["per_event"].items()
                 for size, c in by_size.items()]
    calls_rows = [["REST calls per event: calls x mean ms", *(name for name, _ in per_event)]]
    for endpoint in dict.fromkeys(n for _, c in per_event for n in c["by_endpoint"]):
        calls_rows.append([endpoint[:56], *(f"{e['per_event']:.0f} x {e['ms_per_call']:.0f}"
                                            if (e := c["by_endpoint"].get(endpoint)) else "-"
                                            for _, c in per_event)])
    calls_rows.append(["calls per event", *(report.num(c["calls_per_event"], 2) for _, c in per_event)])
    other = results["cpu"]["other_cores"]
    return "\n".join([
        f"mlflow server and reghook in-process on {results['machine']['cpus']} CPUs; "
        f"{plan['events']} timed events per model and side, in alternating blocks; large models: "
        f"{plan['versions']} more versions",
        *report.columns(rows),
        *(f"  growth small -> large (median): {side} {g['median']}x ({g['median_delta_ms']:+} ms, "
          f"90% CI {report.ci(g['median_delta_ci90_ms'])})" for side, g in latency["growth"].items()),
        "", *report.columns(calls_rows), "",
        *(line for size, lines in calls["timeline"].items() for line in (
            f"reghook's calls for its median {size}-model event (from the claim; side: its "
            "read threads):", *lines)),
        "",
        *(f"echoes {kind}: x{e['count']}, {e['calls_per_event']:.2f} REST calls each (max "
          f"{e['max_calls']})" for kind, e in calls["echo"].items()),
        f"echoes expected from reghook's successful writes: {results['echo_check']['expected']}; "
        f"processed: {results['echo_check']['processed']}",
        f"setup: mlflow server {results['server_start_s']} s; {setup['runs_logged']} runs logged in "
        f"{setup['log_runs_s']} s; filler versions {setup['fill_s']} s; timed phase "
        f"{results['measure_s']} s; whole run {results['elapsed_s']} s",
        f"CPU during the timed phase: {results['cpu']['busy_cores']} cores busy, {other} by "
        "processes other than this one and the mlflow server",
        *(f"RATIO reghook/{base} latency ({size} model): median {r['median']}x, p90 {r['p90']}x"
          for base in BASELINES for size, r in latency["ratio"][base].items()),
        *(f"RATIO reghook/{base} REST calls per version ({size} model): "
          f"{calls['per_event']['reghook'][size]['calls_per_event']} / "
          f"{calls['per_event'][base][size]['calls_per_event']}"
          for base in BASELINES for size in MODELS),
        "", *report.verdict_lines(results["verdicts"], [
            f"other processes used {other} cores during the timed phase"]
            if other > report.BUSY_MACHINE_CORES else [])])
