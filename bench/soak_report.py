"""A soak's results: the JSON, the Markdown tables and the PNG plot.

I/O: files under the output directory (bench/results by default), matplotlib for the plot.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def markdown(result: dict[str, Any]) -> str:
    """The run's tables: growth per role, latency per minute, Postgres and /metrics."""
    lines = [
        f"# Soak: {result['options']['calls']} calls for {result['options']['duration']:g} s",
        "",
        f"Placed {result['calls']['placed']} calls ({result['calls']['outcomes']}), "
        f"{result['options']['cycle']} replaced every {result['options']['cycle_every']:g} s; "
        f"run {result['run_s']} s.",
        "",
        "| role | processes | USS first -> last MiB | slope MiB/h (sum, steepest) "
        "| fds first -> last (max growth; of them Ray's links) | threads first -> last |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for role, g in sorted(result["growth"].items()):
        lines.append(
            f"| {role} | {g['processes']} | {g['uss_first_mb']:.1f} -> {g['uss_last_mb']:.1f} "
            f"| {g['uss_slope_mb_per_h']:+.1f}, {g['steepest_mb_per_h']:+.1f} "
            f"| {g['fds_first']} -> {g['fds_last']} ({g['fds_max_growth']:+d}; "
            f"{g['ray_links_first']} -> {g['ray_links_last']}) "
            f"| {g['threads_first']} -> {g['threads_last']} |"
        )
    tasks = [s["pool_tasks"] for s in result["samples"] if s["pool_tasks"] is not None]
    if tasks:
        lines += [
            "",
            f"Call pool asyncio tasks: first {tasks[0]}, last {tasks[-1]}, max {max(tasks)}.",
        ]
    lines += [
        "",
        "| minute | calls live all minute | in p50 / p99 ms | out p50 / p99 ms | lost "
        "| load side lag p99 / max ms: callers, simulator |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for m in result["latency_per_minute"]:
        i, o = m["inbound"] or {}, m["outbound"] or {}
        lags = ", ".join(_p99_max(m.get(side)) for side in ("callers_lag", "simulator_lag"))
        lines.append(
            f"| {m['t_s'] / 60:.0f} | {m['calls']} | {i.get('p50', '-')} / {i.get('p99', '-')} "
            f"| {o.get('p50', '-')} / {o.get('p99', '-')} | {m['lost']} | {lags} |"
        )
    lines += [
        "",
        "Steepest USS growth over the second half (MiB/h, role, pid, process, first, last):",
    ]
    lines += [f"- {row}" for row in result["steepest_second_half"]]
    lines += ["", f"Postgres: {json.dumps(result['postgres'])}", ""]
    lines += [f"/metrics: {json.dumps(result['metrics'])}", ""]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    """USS per role and CPU per role over the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t_s"] / 60 for s in result["samples"]]
    fig, (mem, cpu) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for role, curve in sorted(result["uss_by_role_mb"].items()):
        mem.plot(t, curve, label=role)
    mem.set_ylabel("USS, MiB (sum per role)")
    mem.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    roles = sorted({r for s in result["samples"] for r in s["cpu"]} - {"machine", "others"})
    every = result["options"]["sample_every"]
    for role in roles:
        cpu.plot(t, [s["cpu"].get(role, 0.0) / every for s in result["samples"]], label=role)
    cpu.set_ylabel("CPU, cores")
    cpu.set_xlabel("minutes")
    cpu.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"soak: {result['options']['calls']} calls")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(result: dict[str, Any], out_dir: Path, *, plots: bool = True) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    paths = [out_dir / f"{stamp}-soak.json", out_dir / f"{stamp}-soak.md"]
    paths[0].write_text(json.dumps(result, indent=1, default=str))
    paths[1].write_text(markdown(result))
    if plots:
        paths.append(out_dir / f"{stamp}-soak.png")
        plot(result, paths[-1])
    return paths


def _p99_max(summary: dict[str, float] | None) -> str:
    if not summary:
        return "-"
    return f"{summary['p99']:.1f} / {summary['max']:.1f}"
