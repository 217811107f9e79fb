"""A run's Markdown report: the engine and baseline side by side, the ramp's steps, profiles,
and the budgets of ARCHITECTURE.md checked against the engine's numbers. Pure.
"""

from __future__ import annotations

import json
from typing import Any

# (name, unit, limit) - from ARCHITECTURE.md "Performance budgets".
BUDGETS = {
    "audio_p50_ms": 1.0,
    "audio_p99_ms": 5.0,
    "greeting_p50_ms": 100.0,
    "webhook_p99_ms": 50.0,
    "uss_mb": 64.0,
    "calls_per_node": 200,
}


def _probe(values: list[float] | None) -> str:
    if not values:
        return "."
    after = f", {values[1]:g} ms after" if len(values) > 1 else ""
    return (
        f", CPU probe {values[0]:g} ms before the run{after} (a fixed Python loop, lower is "
        "faster: the machine is shared and its speed varies)."
    )


def lookup(data: Any, *path: str) -> Any:
    """`data[path[0]][path[1]]...`, or None where a key is missing."""
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
    run = lookup(result, "runs", "engine") or lookup(result, "runs", "external")
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
            if not lookup(r, "engine_reported", "call_claim", "count")
            else f"{r['engine_reported']['call_claim']['mean_ms']:.1f} / "
            f"<= {r['engine_reported']['call_claim']['p99_le_ms']}"
        ),
    )
    row("claims warm / cold", lambda r: json.dumps(lookup(r, "pool", "claims") or "-"))
    row(
        "barge-in: speech_started -> clear p50 / p99 ms (n)",
        lambda r: f"{_pair(r['whole']['barge_in_ms'])} ({r['whole']['barge_ins']['cleared']})",
    )
    for direction in ("inbound", "outbound"):
        row(
            f"{direction} p50 / p99 (hold): apart from / while a call actor starts",
            lambda r, d=direction: _split_text(lookup(r, "hold", "start_split"), d),
        )
    row("USS per call actor, MiB", lambda r: _uss_text(r.get("uss_mb")))
    row("CPU per call in call actors, ms/s", lambda r: _fmt(r.get("cpu_ms_per_call"), 1))
    row("CPU cores (hold)", lambda r: _cpu_text(r["cpu_cores"]["hold"]))
    row(
        "load side lag p99 ms: callers / simulator / send jitter",
        lambda r: (
            f"{_fmt(lookup(r, 'hold', 'callers_lag_ms', 'p99'))} / "
            f"{_fmt(lookup(r, 'hold', 'simulator_lag_ms', 'p99'))} / "
            f"{_fmt(lookup(r, 'hold', 'send_jitter_ms', 'p99'))}"
        ),
    )
    row(
        "engine self-reported in / out p99 bucket ms",
        lambda r: (
            f"<= {_fmt(lookup(r, 'engine_reported', 'audio_inbound', 'p99_le_ms'))} / "
            f"<= {_fmt(lookup(r, 'engine_reported', 'audio_outbound', 'p99_le_ms'))}"
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
