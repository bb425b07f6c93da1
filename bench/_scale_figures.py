"""bench/scale.py's figures: versions per second per side and N, the ratios, the CPU split table."""

from __future__ import annotations

from typing import Any

import _report as report

CPU_GROUPS = ("mlflow", "workers", "web", "postgres", "client", "other", "busy")
# The processes a version costs CPU in (the client is the load generator: the direct side's
# clients do the work reghook's workers do, so they count there).
WORK = {"reghook": ("mlflow", "workers", "web", "postgres"), "direct": ("mlflow", "client")}


def cpu_ms_per_version(phase: dict[str, Any]) -> dict[str, float]:
    """CPU milliseconds per version in each process group, and two ceilings they imply on this
    machine: the MLflow server is one process (at most one core), the machine has ``cpus``."""
    seconds, cpus = phase["seconds"], phase["cpus"]
    ms = {g: round(phase["cpu"].get(g, 0.0) * seconds / phase["versions"] * 1000, 1)
          for g in WORK[phase["side"]] if g in phase["cpu"]}
    work = sum(ms.values())
    return {**ms, "mlflow_bound_per_s": round(1000 / ms["mlflow"], 1) if ms.get("mlflow") else None,
            "cores_bound_per_s": round(cpus * 1000 / work, 1) if work else None}


def summarize(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """Throughput per (side, N), reghook / direct at each N, and each side's N / first-N scaling."""
    rate = {(p["side"], p["workers"]): round(p["versions"] / p["seconds"], 2) for p in phases}
    counts = sorted({n for _, n in rate})
    first = counts[0]
    return {"throughput": {f"{side} x{n}": v for (side, n), v in sorted(rate.items())},
            "ratio_to_direct": {f"x{n}": report.ratio(rate.get(("reghook", n)), rate.get(("direct", n)))
                                for n in counts},
            "scaling": {side: {f"x{n}/x{first}": report.ratio(rate.get((side, n)), rate.get((side, first)))
                               for n in counts[1:]} for side in ("reghook", "direct")}}


def _calls_per_version(phase: dict[str, Any]) -> float:
    calls: int = sum(v for k, v in phase["calls"].items() if k != "5xx")
    return round(calls / int(phase["versions"]), 1)


def _retries(phase: dict[str, Any]) -> str:
    if phase["side"] != "reghook":
        return "-"
    return str(phase["attempts"]["by_outcome"].get("retry", 0))


def table(results: dict[str, Any]) -> str:
    """Throughput, ratios and the CPU split, then the RATIO lines."""
    phases, plan = results["phases"], results["plan"]
    rows: list[list[Any]] = [["phase", "versions/s", "seconds", "drained/s", "REST calls/v", "5xx", "retries",
                              "attempt ms", "echoes", "pg active", "pg waiting"]]
    for p in phases:
        metrics, pg = p.get("worker_metrics") or {}, p.get("pg") or {}
        waits = {k: v for k, v in (pg.get("by_wait") or {}).items() if k != "on CPU"}
        rows.append([f"{p['side']} x{p['workers']}", report.num(p["versions"] / p["seconds"]),
                     f"{p['seconds']:.1f}",
                     report.num(p["versions"] / p["drained_s"]) if "drained_s" in p else "-",
                     _calls_per_version(p), p["calls"].get("5xx", 0),
                     _retries(p), metrics.get("run_attempt_ms", "-"),
                     sum((p.get("echoes") or {}).values()) if p["side"] == "reghook" else "-",
                     pg.get("active_backends", "-"),
                     " ".join(f"{k}={v}" for k, v in waits.items()) or "-"])
    cpu: list[list[Any]] = [["cores used", *CPU_GROUPS, "", "CPU ms/v: mlflow", "workers",
                             "web", "postgres", "client", "ceiling/s: mlflow", "cores", "",
                             "runq: mlflow", "workers"]]
    for p in phases:
        ms, runq = cpu_ms_per_version(p), p.get("runq") or {}
        cpu.append([f"{p['side']} x{p['workers']}", *(p["cpu"].get(g, "-") for g in CPU_GROUPS), "",
                    *(ms.get(g, "-") for g in ("mlflow", "workers", "web", "postgres", "client")),
                    ms["mlflow_bound_per_s"], ms["cores_bound_per_s"], "",
                    runq.get("mlflow", "-"), runq.get("workers", "-")])
    ratios = [f"RATIO reghook/direct throughput ({n}): {r}x"
              for n, r in results["ratio_to_direct"].items()]
    ratios += [f"RATIO {side} scaling ({k}): {r}x"
               for side, found in results["scaling"].items() for k, r in found.items()]
    costs = [["mlflow server CPU per call (ms), one client", "ms"],
             *([k, v] for k, v in results.get("call_costs", {}).items())]
    return "\n".join([f"store {plan['store']}; {plan['batch']} versions per phase over "
                      f"{plan['models']} models; mlflow server: 1 uvicorn worker, SQLite backend",
                      *report.columns(rows), "", *report.columns(cpu), "",
                      *report.columns(costs), "", *ratios])
