"""The issue's targets, and the readable table of bench/ingest.py's figures.

Works on the result dictionary that is also written to
bench/results/ingest.json, so the table can always be rebuilt from the JSON.
"""

from __future__ import annotations

from typing import Any

TARGETS = {
    "throughput_ratio_min": 0.60,  # reghook ingest throughput ≥ 60 % of bare Flask
    "open_loop_p99_ms_max": 10.0,  # p99 < 10 ms at 300 deliveries/s
    "worker_rss_mb_max": 80.0,     # one web worker < 80 MB RSS
}
# Other processes using more than this many cores during a phase make its
# figures pessimistic: they are flagged rather than silently reported.
BUSY_MACHINE_CORES = 0.25


def _measured(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: b for name, b in results["backends"].items() if "skipped" not in b}


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target, per backend: the figure, and whether it is met."""
    rows = []
    for backend, b in _measured(results).items():
        ratio = b["throughput_ratio"]
        rows.append({"target": "ingest throughput >= 60% of bare", "backend": backend,
                     "figure": f"{ratio:.0%}" if ratio is not None else "n/a",
                     "met": ratio is not None and ratio >= TARGETS["throughput_ratio_min"]})
        p99 = b["reghook"]["open_loop"]["p99_ms"]
        rows.append({"target": "p99 < 10 ms at 300/s", "backend": backend,
                     "figure": f"{p99} ms",
                     "met": p99 is not None and p99 < TARGETS["open_loop_p99_ms_max"]})
        rss = b["reghook"]["worker_rss_mb_max"]
        rows.append({"target": "web worker < 80 MB RSS", "backend": backend,
                     "figure": f"{rss} MB",
                     "met": rss is not None and rss < TARGETS["worker_rss_mb_max"]})
    return rows


def problems(results: dict[str, Any]) -> list[str]:
    """What makes the figures untrustworthy: errors, unexpected answers, lost events."""
    found = []
    for backend, b in _measured(results).items():
        for name in ("bare", "reghook"):
            t = b[name]
            if t["errors"]:
                found.append(f"{backend}/{name}: {t['errors']} non-2xx or failed requests "
                             f"(statuses {t['statuses']})")
            if t["unexpected"]:
                found.append(f"{backend}/{name}: {t['unexpected']} answers were 2xx but not "
                             f"the expected {t['expected_status']} for a new delivery "
                             f"(statuses {t['statuses']})")
        stored, accepted = b["reghook"]["stored_events"], b["reghook"]["statuses"]
        answered = sum(n for status, n in accepted.items() if status.startswith("2"))
        if stored != answered:
            found.append(f"{backend}: {answered} deliveries answered 2xx but {stored} "
                         "events stored")
    return found


def warnings(results: dict[str, Any]) -> list[str]:
    """Phases during which other processes kept the machine busy."""
    found = []
    for backend, b in _measured(results).items():
        for name in ("bare", "reghook"):
            for phase in ("saturation", "open_loop"):
                other = b[name][phase]["cpu"]["other_cores"]
                if other > BUSY_MACHINE_CORES:
                    found.append(f"{backend}/{name} {phase}: other processes used {other} "
                                 "cores on average")
    return found


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _row(label: str, t: dict[str, Any], ratio: str) -> str:
    sat, fixed = t["saturation"], t["open_loop"]
    other = f"{sat['cpu']['other_cores']:.2f}/{fixed['cpu']['other_cores']:.2f}"
    cpu = sat["cpu"].get("server_cpu_ms_per_request")
    return (f"{label:<22}{sat['ok_rps'] or 0:>9.0f}{_ms(sat['p50_ms']):>8}{_ms(sat['p99_ms']):>8}"
            f"{ratio:>7}{_ms(cpu):>8}{_ms(fixed['p50_ms']):>10}{_ms(fixed['p99_ms']):>8}"
            f"{_ms(fixed['max_ms']):>8}{t['errors']:>7}{t['worker_rss_mb_max']:>8}{other:>11}")


def table(results: dict[str, Any]) -> str:
    """The summary printed at the end of a run."""
    plan = results["plan"]
    lines = [
        f"gunicorn -c deploy/gunicorn.conf.py: {plan['workers']} x {plan['worker_class']} "
        f"workers per target, on {results['machine']['cpus']} CPUs shared with the load "
        "generator",
        f"saturation: closed loop, {plan['clients']} clients, {plan['saturation_s']} s per "
        f"target; fixed rate: open loop {plan['rate']:.0f}/s, {plan['open_s']} s per target "
        "(latency from the scheduled send time)",
        "",
        f"{'':<22}{'saturation':^40}{'at ' + format(plan['rate'], '.0f') + '/s':^26}"
        f"{'':>7}{'worker':>8}{'other CPU':>11}",
        f"{'target':<22}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'ratio':>7}{'CPU ms':>8}"
        f"{'p50 ms':>10}{'p99 ms':>8}{'max ms':>8}{'errors':>7}{'RSS MB':>8}{'sat/fixed':>11}",
    ]
    for backend, b in results["backends"].items():
        if "skipped" in b:
            lines.append(f"{backend:<22}skipped: {b['skipped']}")
            continue
        ratio = b["throughput_ratio"]
        lines.append(_row(f"bare Flask ({backend})", b["bare"], "1.00"))
        lines.append(_row(f"reghook {backend}", b["reghook"],
                          f"{ratio:.2f}" if ratio is not None else "n/a"))
    s = results.get("startup")
    if s:
        lines += [
            "",
            "start-up of one web worker:",
            f"  gunicorn -w 1 spawned -> first 200 on /healthz: "
            f"{s['gunicorn_1_worker_to_healthz_s']['median']} s "
            f"(median of {len(s['gunicorn_1_worker_to_healthz_s']['all'])})",
            f"  `import deploy.wsgi` in a fresh interpreter: "
            f"{s['import_deploy_wsgi_s']['median']} s for the import, "
            f"{s['fresh_interpreter_import_process_s']['median']} s for the whole process; "
            f"RSS after import {s['rss_after_import_mb']} MB; mlflow imported: "
            f"{s['mlflow_imported']}",
        ]
    lines += [
        "",
        "CPU ms: server CPU (gunicorn workers, and PostgreSQL's backends for reghook) per request "
        "at saturation. other CPU: cores used by processes that are not part of the benchmark.",
        "",
        "targets:",
    ]
    for row in results["verdicts"]:
        mark = "MET   " if row["met"] else "MISSED"
        lines.append(f"  {mark} {row['target']:<34} {row['backend']:<9} {row['figure']}")
    for warning in results.get("warnings", []):
        lines.append(f"  note: {warning}: figures are pessimistic")
    return "\n".join(lines)
