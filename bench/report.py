"""Results on disk: one JSON document, a Markdown report and PNG plots per run.

I/O: files under the results directory (`bench/results/` by default), matplotlib (Agg backend,
no display), `git` and /proc for the machine description. Each run writes
`<stamp>-<mode>.json|.md|-latency.png|-memory.png` and copies them to `latest-<mode>.*` so a
README can point at the newest without being edited.

The budgets of ARCHITECTURE.md are checked here, against the numbers of the engine run.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

GIT = shutil.which("git") or "git"
RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent

# (name, unit, limit) - from ARCHITECTURE.md "Performance budgets".
BUDGETS = {
    "audio_p50_ms": 1.0,
    "audio_p99_ms": 5.0,
    "greeting_p50_ms": 100.0,
    "webhook_p99_ms": 50.0,
    "uss_mb": 64.0,
    "calls_per_node": 200,
}


def cpu_probe_ms(steps: int = 5_000_000, repeats: int = 3) -> float:
    """Median time of a fixed pure-Python loop: how fast this (shared, virtual) machine runs
    Python right now. The same code measured on the same box varies with it, so every result
    carries one taken before and one after the run."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        total = 0
        for i in range(steps):
            total += i
        times.append(time.perf_counter() - began)
    return round(sorted(times)[len(times) // 2] * 1000.0, 1)


def _probe(values: list[float] | None) -> str:
    if not values:
        return "."
    after = f", {values[1]:g} ms after" if len(values) > 1 else ""
    return (
        f", CPU probe {values[0]:g} ms before the run{after} (a fixed Python loop, lower is "
        "faster: the machine is shared and its speed varies)."
    )


def machine() -> dict[str, Any]:
    """What the numbers were measured on, taken before the run (load average, CPU probe)."""
    model = ""
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break

    def git(*args: str) -> str:
        try:
            return subprocess.run(  # noqa: S603 - fixed git arguments
                [GIT, *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
        except OSError:
            return ""

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu_probe_ms": [cpu_probe_ms()],
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty_files": len(dirty.splitlines()) if dirty else 0,
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _triple(summary: Any) -> str:
    if not summary:
        return "-"
    return f"{summary['p50']:.2f} / {summary['p99']:.2f} / {summary['max']:.1f}"


def _pair(summary: Any) -> str:
    if not summary:
        return "-"
    return f"{summary['p50']:.1f} / {summary['p99']:.1f}"


def _ratio(a: Any, b: Any) -> str:
    if not a or not b or not b.get("p50") or not b.get("p99"):
        return "-"
    return f"{a['p50'] / b['p50']:.2f} / {a['p99'] / b['p99']:.2f}"


def _uss_text(uss: Any) -> str:
    if not uss or not uss.get("active"):
        return "-"
    active = uss["active"]
    warm = uss.get("warm") or []
    text = f"{sum(active) / len(active):.1f} mean, {max(active):.1f} max (n={len(active)})"
    calls = uss.get("calls") or []
    if calls and max(calls) > 1:
        text += (
            f"; {sum(calls) / len(calls):.1f} calls each, {sum(active) / sum(calls):.1f} per call"
        )
    if warm:
        text += f"; warm {sum(warm) / len(warm):.1f}"
    return text


def _cpu_text(cores: Any) -> str:
    if not cores:
        return "-"
    relay = cores.get("total engine", cores.get("total baseline"))
    return (
        f"relay {_fmt(relay)}, load side {_fmt(cores.get('total load side'))} "
        f"(share {_fmt(cores.get('load side share'))}), other users "
        f"{_fmt(cores.get('others'))}, machine {_fmt(cores.get('machine'))}"
    )


def budget_checks(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(budget, limit, measured, met) for the engine run of a result."""
    checks: list[tuple[str, str, str, bool | None]] = []
    run = _get(result, "runs", "engine") or _get(result, "runs", "external")
    if run is None:
        return checks
    if result["mode"] == "calls":
        hold = run["hold"]
        n, asked = hold["concurrent_calls"], run["calls"]
        at = f"{n} calls" if n == asked else f"{n} of {asked} calls (the rest failed)"
        applies = asked >= 100  # the budget is stated at 100 concurrent calls
        for direction in ("inbound", "outbound"):
            lat = hold[direction]["latency_ms"]
            if lat:
                p50_ok = n >= 100 and lat["p50"] < BUDGETS["audio_p50_ms"]
                p99_ok = n >= 100 and lat["p99"] < BUDGETS["audio_p99_ms"]
                checks.append(
                    (
                        f"audio {direction} p50 at {at}",
                        "< 1 ms",
                        f"{lat['p50']:.3f} ms",
                        p50_ok if applies else None,
                    )
                )
                checks.append(
                    (
                        f"audio {direction} p99 at {at}",
                        "< 5 ms",
                        f"{lat['p99']:.3f} ms",
                        p99_ok if applies else None,
                    )
                )
        lost = run["whole"]["frames_lost"]
        failed = sum(v for k, v in run["whole"]["calls"].items() if k != "ended")
        checks.append(("frames lost (whole run)", "0", str(lost), lost == 0))
        checks.append(("calls failed or refused", "0", str(failed), failed == 0))
        callbacks = run["whole"].get("callbacks_failed", 0)
        checks.append(("status callbacks not answered 2xx", "0", str(callbacks), callbacks == 0))
        greeting = run["whole"]["greeting_ms"]
        if greeting:
            checks.append(
                (
                    "greeting p50",
                    "< 100 ms",
                    f"{greeting['p50']:.1f} ms",
                    greeting["p50"] < BUDGETS["greeting_p50_ms"],
                )
            )
        webhook = run["whole"]["webhook_ms"]
        if webhook:
            at = run["rate"]
            checks.append(
                (
                    f"webhook p99 at {at:g} arrivals/s",
                    "< 50 ms",
                    f"{webhook['p99']:.1f} ms",
                    webhook["p99"] < BUDGETS["webhook_p99_ms"] if at >= 20 else None,
                )
            )
        uss = run.get("uss_mb") or {}
        if uss.get("active"):
            top = max(uss["active"])
            checks.append(
                (
                    "USS per call actor (max sampled)",
                    "< 64 MiB",
                    f"{top:.1f} MiB",
                    top < BUDGETS["uss_mb"],
                )
            )
    else:
        held = run["max_calls_held"]
        checks.append(
            (
                "concurrent calls per node, no frame lost",
                ">= 200",
                str(held),
                held >= BUDGETS["calls_per_node"],
            )
        )
    return checks


def markdown(result: dict[str, Any]) -> str:
    mach = result["machine"]
    lines = [
        f"# NeuroSphere bench: {result['mode']} ({mach['time']})",
        "",
        f"Machine: {mach['cores']} cores ({mach['cpu']}), {mach['memory_gib']} GiB, Python "
        f"{mach['python']}, commit {mach['git_commit']}"
        + (f" + {mach['git_dirty_files']} changed files" if mach["git_dirty_files"] else "")
        + f", load average at start {mach['load_average']}"
        + _probe(mach.get("cpu_probe_ms")),
        "",
        "Latencies are p50 / p99 / max in ms, measured end to end with one clock across processes "
        "(caller frame sent -> model append received; model delta sent -> caller media received).",
        "",
    ]
    if result["mode"] == "calls":
        lines += _calls_table(result)
    else:
        lines += _ramp_table(result)
    for kind, run in result["runs"].items():
        lines += _profile_lines(kind, run.get("profiles"))
    checks = budget_checks(result)
    if checks:
        lines += [
            "",
            "## Budgets (engine)",
            "",
            "| budget | limit | measured | met |",
            "| --- | --- | --- | --- |",
        ]
        for name, limit, measured, met in checks:
            verdict = "n/a" if met is None else ("yes" if met else "**NO**")
            lines.append(f"| {name} | {limit} | {measured} | {verdict} |")
    return "\n".join(lines) + "\n"


def _profile_lines(kind: str, profiles: Any, top: int = 12) -> list[str]:
    if not profiles:
        return []
    if "error" in profiles:
        return ["", f"Profiles ({kind}): {profiles['error']}"]
    lines = ["", f"## Profiles ({kind}, py-spy, CPU samples only)"]
    for name, prof in profiles.items():
        lines += [
            "",
            f"### {name} (pids {prof['pids']}, {prof['samples']} samples)",
            "",
            "| self % | function | | inclusive % | function |",
            "| --- | --- | --- | --- | --- |",
        ]
        selfs, incl = prof["self_pct"][:top], prof["inclusive_pct"][:top]
        for i in range(max(len(selfs), len(incl))):
            a = selfs[i] if i < len(selfs) else ("", "")
            b = incl[i] if i < len(incl) else ("", "")
            lines.append(f"| {a[1]} | `{a[0]}` | | {b[1]} | `{b[0]}` |")
    return lines


def _split_text(split: Any, direction: str) -> str:
    """`apart / while starting (n starts, s)` for one direction of a StartSplit."""
    if not split:
        return "-"
    apart = _pair(split[f"{direction}_apart"])
    if not split["starts"]:
        return f"{apart} / - (no start)"
    starting = _pair(split[f"{direction}_starting"])
    return f"{apart} / {starting} ({split['starts']} starts, {split['starting_s']:g} s)"


def _calls_table(result: dict[str, Any]) -> list[str]:
    runs = result["runs"]
    kinds = list(runs)
    engine, baseline = runs.get("engine"), runs.get("baseline")
    first = runs[kinds[0]]
    head = (
        f"{first['calls']} calls arriving at {first['rate']:g}/s, held "
        f"{first['duration_s']:g} s after all were live (the *hold* window)."
    )
    rows: list[tuple[str, list[str], str]] = []

    def row(name: str, getter: Any, ratio: Any = None) -> None:
        values = [getter(runs[k]) for k in kinds]
        r = "-"
        if ratio is not None and engine is not None and baseline is not None:
            r = ratio(engine, baseline)
        rows.append((name, values, r))

    for direction in ("inbound", "outbound"):
        row(
            f"{direction} latency (hold)",
            lambda r, d=direction: _triple(r["hold"][d]["latency_ms"]),
            lambda e, b, d=direction: _ratio(
                e["hold"][d]["latency_ms"], b["hold"][d]["latency_ms"]
            ),
        )
        row(
            f"{direction} latency (whole run)",
            lambda r, d=direction: _triple(r["whole"][d]["latency_ms"]),
        )
        row(
            f"{direction} frames expected / lost / reordered / late",
            lambda r, d=direction: (
                f"{r['whole'][d]['expected']} / {r['whole'][d]['lost']} / "
                f"{r['whole'][d]['reordered']} / {r['whole'][d]['late']}"
            ),
        )
    row(
        "outbound deltas excused (barge-in, hang-up)",
        lambda r: json.dumps(r["whole"]["outbound"]["excused"]),
    )
    row("calls live in hold window", lambda r: str(r["hold"]["concurrent_calls"]))
    row("call outcomes", lambda r: json.dumps(r["whole"]["calls"]))
    row("status callbacks not answered 2xx", lambda r: str(r["whole"].get("callbacks_failed", 0)))
    row(
        "greeting p50 / p99 ms",
        lambda r: _pair(r["whole"]["greeting_ms"]),
        lambda e, b: _ratio(e["whole"]["greeting_ms"], b["whole"]["greeting_ms"]),
    )
    row(
        "webhook -> TwiML p50 / p99 ms",
        lambda r: _pair(r["whole"]["webhook_ms"]),
        lambda e, b: _ratio(e["whole"]["webhook_ms"], b["whole"]["webhook_ms"]),
    )
    row(
        "claim (pool) mean / p99 bucket ms",
        lambda r: (
            "-"
            if not _get(r, "engine_reported", "call_claim", "count")
            else f"{r['engine_reported']['call_claim']['mean_ms']:.1f} / "
            f"<= {r['engine_reported']['call_claim']['p99_le_ms']}"
        ),
    )
    row("claims warm / cold", lambda r: json.dumps(_get(r, "pool", "claims") or "-"))
    row(
        "barge-in: speech_started -> clear p50 / p99 ms (n)",
        lambda r: f"{_pair(r['whole']['barge_in_ms'])} ({r['whole']['barge_ins']['cleared']})",
    )
    for direction in ("inbound", "outbound"):
        row(
            f"{direction} p50 / p99 (hold): apart from / while a call actor starts",
            lambda r, d=direction: _split_text(_get(r, "hold", "start_split"), d),
        )
    row("USS per call actor, MiB", lambda r: _uss_text(r.get("uss_mb")))
    row("CPU per call in call actors, ms/s", lambda r: _fmt(r.get("cpu_ms_per_call"), 1))
    row("CPU cores (hold)", lambda r: _cpu_text(r["cpu_cores"]["hold"]))
    row(
        "load side lag p99 ms: callers / simulator / send jitter",
        lambda r: (
            f"{_fmt(_get(r, 'hold', 'callers_lag_ms', 'p99'))} / "
            f"{_fmt(_get(r, 'hold', 'simulator_lag_ms', 'p99'))} / "
            f"{_fmt(_get(r, 'hold', 'send_jitter_ms', 'p99'))}"
        ),
    )
    row(
        "engine self-reported in / out p99 bucket ms",
        lambda r: (
            f"<= {_fmt(_get(r, 'engine_reported', 'audio_inbound', 'p99_le_ms'))} / "
            f"<= {_fmt(_get(r, 'engine_reported', 'audio_outbound', 'p99_le_ms'))}"
        ),
    )
    row("start-up", lambda r: json.dumps(r["startup"]))
    ratio_head = " engine/baseline p50 / p99 |" if engine and baseline else ""
    lines = [
        head,
        "",
        "| metric | " + " | ".join(kinds) + " |" + ratio_head,
        "| --- " * (len(kinds) + 1 + (1 if ratio_head else 0)) + "|",
    ]
    for name, values, r in rows:
        lines.append(f"| {name} | " + " | ".join(values) + " |" + (f" {r} |" if ratio_head else ""))
    return lines


def _ramp_table(result: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for kind, run in result["runs"].items():
        lines += [
            f"## {kind}: held {run['max_calls_held']} concurrent calls with p99 < "
            f"{run['p99_limit_ms']:g} ms and no frame lost",
            "",
            f"Start-up: {json.dumps(run['startup'])}. {run['stopped']}",
            "",
            "| calls | inbound ms | outbound ms | lost | late | webhook p50/p99 | greeting "
            "p50/p99 | pool refill s | CPU relay / load / others (cores) | CPU per call ms/s "
            "| USS active MiB | result |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for step in run["steps"]:
            w, cores = step["window"], step["cpu_cores"]
            relay = cores.get("total engine", cores.get("total baseline"))
            lines.append(
                f"| {step['calls']} | {_triple(w['inbound']['latency_ms'])} | "
                f"{_triple(w['outbound']['latency_ms'])} | {w['frames_lost']} | "
                f"{w['inbound']['late'] + w['outbound']['late']} | "
                f"{_pair(step['setup']['webhook_ms'])} | {_pair(step['setup']['greeting_ms'])} | "
                f"{_fmt(step.get('pool_refill_s'), 1)} | "
                f"{_fmt(relay)} / {_fmt(cores.get('total load side'))} / "
                f"{_fmt(cores.get('others'))} | {_fmt(step.get('cpu_ms_per_call'), 1)} | "
                f"{_uss_text(step.get('uss_mb'))} | "
                f"{'pass' if step['passed'] else 'FAIL'} |"
            )
    return lines


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


def _plot_calls(result: dict[str, Any], latency: Path, memory: Path) -> list[Path]:
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
    uss = _get(runs, "engine", "uss_mb") or _get(runs, "external", "uss_mb")
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


def _plot_timeline(result: dict[str, Any], path: Path) -> list[Path]:
    """p99 per second over the whole run, per target: both directions, the simulator's lag,
    the hold window shaded and each call actor start marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {k: r for k, r in result["runs"].items() if _get(r, "whole", "timeline")}
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


def _plot_ramp(result: dict[str, Any], latency: Path, memory: Path) -> list[Path]:
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


def write(result: dict[str, Any], out_dir: Path | None = None, *, plots: bool = True) -> list[Path]:
    """Write the JSON, Markdown and plots of a result; returns the paths written."""
    out = out_dir or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    mode = result["mode"]
    base = out / f"{stamp}-{mode}"
    paths = [base.with_suffix(".json"), base.with_suffix(".md")]
    paths[0].write_text(json.dumps(result, indent=1, default=str))
    paths[1].write_text(markdown(result))
    if plots:
        latency = out / f"{stamp}-{mode}-latency.png"
        memory = out / f"{stamp}-{mode}-memory.png"
        plot = _plot_calls if mode == "calls" else _plot_ramp
        paths += plot(result, latency, memory)
        if mode == "calls":
            paths += _plot_timeline(result, out / f"{stamp}-{mode}-timeline.png")
    for path in list(paths):
        latest = out / path.name.replace(stamp, "latest", 1)
        shutil.copyfile(path, latest)
    return paths


def summary_lines(paths: Sequence[Path]) -> str:
    return "\n".join(f"  {p}" for p in paths)
