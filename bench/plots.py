"""A run's PNG plots: latency and memory of a calls run or a ramp, and a calls run's
timeline, each stamped with its run.

I/O: matplotlib (Agg backend, no display), files under the results directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report_markdown import lookup

USS_BUDGET_LABEL = "budget 64 MiB"


def run_stamp(result: dict[str, Any]) -> str:
    """The run's date and commit, written under every plot so a picture names its run."""
    facts = result.get("machine") or {}
    commit = facts.get("git_commit") or "unknown commit"
    if facts.get("git_dirty_files"):
        commit += f" (+{facts['git_dirty_files']} changed files)"
    return f"run {facts.get('time') or 'at an unknown time'}, commit {commit}"


def _finish(fig: Any, result: dict[str, Any], path: Path) -> None:
    """Stamp the run under the figure, lay it out with the legends beside the axes, save it."""
    fig.text(0.01, 0.005, run_stamp(result), fontsize=7, color="dimgrey", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110, bbox_inches="tight")


def _legend_beside(ax: Any, **kwargs: Any) -> None:
    """A legend to the right of the axes, never over the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kwargs)


def plot_calls(result: dict[str, Any], latency: Path, memory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, direction in zip(axes, ("inbound", "outbound"), strict=True):
        labels, p50, p99, top = [], [], [], []
        for kind, run in runs.items():
            lat = run["hold"][direction]["latency_ms"]
            if lat:
                labels.append(kind)
                p50.append(lat["p50"])
                p99.append(lat["p99"])
                top.append(lat["max"])
        xs = range(len(labels))
        ax.bar([x - 0.27 for x in xs], p50, 0.27, label="p50")
        ax.bar(list(xs), p99, 0.27, label="p99")
        ax.bar([x + 0.27 for x in xs], top, 0.27, label="max")
        ax.set_xticks(list(xs), labels)
        ax.set_yscale("log")
        ax.set_ylabel("ms")
        ax.set_title(f"{direction} added latency")
        ax.axhline(5.0, color="red", linestyle="--", linewidth=0.8, label="p99 budget 5 ms")
    _legend_beside(axes[-1], fontsize=7)
    n = next(iter(runs.values()))["hold"]["concurrent_calls"]
    fig.suptitle(f"{n} concurrent calls")
    _finish(fig, result, latency)
    plt.close(fig)
    written = [latency]
    uss = lookup(runs, "engine", "uss_mb") or lookup(runs, "external", "uss_mb")
    if uss and (uss.get("active") or uss.get("warm")):
        fig, ax = plt.subplots(figsize=(6, 4))
        data = [v for v in (uss.get("active"), uss.get("warm")) if v]
        names = [n for n, v in (("in a call", uss.get("active")), ("warm", uss.get("warm"))) if v]
        ax.boxplot(data, tick_labels=names)
        ax.axhline(64.0, color="red", linestyle="--", linewidth=0.8, label=USS_BUDGET_LABEL)
        ax.set_ylabel("USS per call actor, MiB")
        _legend_beside(ax, fontsize=7)
        _finish(fig, result, memory)
        plt.close(fig)
        written.append(memory)
    return written


def plot_timeline(result: dict[str, Any], path: Path) -> list[Path]:
    """p99 per second over the whole run, per target: both directions, the simulator's lag,
    the hold window shaded and each call actor start marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {k: r for k, r in result["runs"].items() if lookup(r, "whole", "timeline")}
    if not runs:
        return []
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 3.2 * len(runs)), squeeze=False)
    for ax, (kind, run) in zip(axes[:, 0], runs.items(), strict=True):
        points = run["whole"]["timeline"]
        t = [p["t_s"] for p in points]
        for key, label in (
            ("inbound_p99", "inbound p99"),
            ("outbound_p99", "outbound p99"),
            ("simulator_lag_p99", "simulator event-loop lag p99"),
        ):
            ys = [p[key] if p[key] is not None else float("nan") for p in points]
            ax.plot(t, ys, label=label, linewidth=1.0)
        hold = run.get("hold_window_s")
        if hold:
            ax.axvspan(hold[0], hold[1], color="grey", alpha=0.12, label="hold window")
        for i, start in enumerate(run.get("call_actor_starts_s") or []):
            ax.axvline(
                start,
                color="black",
                linestyle=":",
                linewidth=0.9,
                label="call actor started" if i == 0 else None,
            )
        ax.axhline(5.0, color="red", linestyle="--", linewidth=0.8, label="p99 budget 5 ms")
        ax.set_yscale("log")
        ax.set_ylabel("ms (p99 per second)")
        ax.set_title(f"{kind}: {run['calls']} calls arriving at {run['rate']:g}/s")
        _legend_beside(ax, fontsize=7)
    axes[-1, 0].set_xlabel("seconds from the first arrival")
    _finish(fig, result, path)
    plt.close(fig)
    return [path]


def plot_ramp(result: dict[str, Any], latency: Path, memory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, mem_points = ramp_latency_figure(result)
    _finish(fig, result, latency)
    plt.close(fig)
    written = [latency]
    if mem_points:
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot([p[0] for p in mem_points], [p[1] for p in mem_points], marker="o", label="mean")
        ax.plot([p[0] for p in mem_points], [p[2] for p in mem_points], marker="^", label="max")
        ax.axhline(64.0, color="red", linestyle="--", linewidth=0.8, label=USS_BUDGET_LABEL)
        ax.set_xticks(sorted({p[0] for p in mem_points}))
        ax.set_xlabel("concurrent calls (ramp steps)")
        ax.set_ylabel("USS per call actor in a call, MiB")
        _legend_beside(ax, fontsize=7)
        _finish(fig, result, memory)
        plt.close(fig)
        written.append(memory)
    return written


def ramp_latency_figure(result: dict[str, Any]) -> tuple[Any, list[tuple[int, float, float]]]:
    """The ramp's latency and CPU figure, and the (calls, mean, max) USS points. Every step of
    every target is on the x axis: a step with no audio measured is marked where its latency
    would be, and a failed step is shaded, so the picture shows where a ramp stopped and why."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, cpu_ax) = plt.subplots(1, 2, figsize=(13, 4.5))
    mem_points: list[tuple[int, float, float]] = []
    limit = result["runs"][next(iter(result["runs"]))]["p99_limit_ms"]
    all_steps: set[int] = set()
    for kind, run in result["runs"].items():
        steps = run["steps"]
        xs = [s["calls"] for s in steps]
        all_steps.update(xs)
        for direction, style in (("inbound", "-"), ("outbound", "--")):
            for q, marker in (("p50", "o"), ("p99", "s"), ("max", "^")):
                ys = [
                    (s["window"][direction]["latency_ms"] or {}).get(q, float("nan")) for s in steps
                ]
                ax.plot(xs, ys, style, marker=marker, label=f"{kind} {direction} {q}")
        unmeasured = [s["calls"] for s in steps if not s["window"]["inbound"]["latency_ms"]]
        if unmeasured:
            ax.plot(
                unmeasured,
                [limit] * len(unmeasured),
                "x",
                color="black",
                markersize=9,
                label=f"{kind}: step with no audio measured",
            )
        for s in steps:
            if s.get("passed") is False:
                ax.axvspan(s["calls"] - 2, s["calls"] + 2, color="red", alpha=0.08)
        for group in ("total engine", "total baseline", "total load side", "others"):
            ys = [s["cpu_cores"].get(group, float("nan")) for s in steps]
            if any(y == y for y in ys):
                cpu_ax.plot(xs, ys, marker="o", label=f"{kind}: {group}")
        for s in steps:
            active = (s.get("uss_mb") or {}).get("active") or []
            if active:
                mem_points.append((s["calls"], sum(active) / len(active), max(active)))
    ax.axhline(limit, color="red", linestyle=":", linewidth=0.8, label="ramp p99 limit")
    ax.axhline(5.0, color="orange", linestyle=":", linewidth=0.8, label="p99 budget at 100")
    ax.axvspan(0, 0, color="red", alpha=0.08, label="step failed")
    ticks = sorted(all_steps)
    for axis in (ax, cpu_ax):
        axis.set_xticks(ticks)
        axis.set_xlabel("concurrent calls (ramp steps)")
    ax.set_xlim(min(ticks) - 5, max(ticks) + 5)
    ax.set_yscale("log")
    ax.set_ylabel("added latency, ms")
    _legend_beside(ax, fontsize=6)
    cpu_ax.set_ylabel("CPU cores")
    cpu_ax.axhline(2.0, color="grey", linestyle=":", linewidth=0.8, label="machine (2 cores)")
    _legend_beside(cpu_ax, fontsize=7)
    return fig, mem_points
