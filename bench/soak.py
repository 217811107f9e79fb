"""`python -m bench soak`: the engine under a steady load for a long time.

N calls are live at once for `--duration` seconds; every `--cycle-every` seconds the `--cycle`
oldest hang up and as many new ones are placed, so call actors recycle, calls end and their
post-call work runs all along. Every `--sample-every` seconds each engine process (Ray's, the
actors', the ingress, the embedded Postgres) is read: its memory (USS: what it alone holds), its
open file descriptors and threads, and the call pool's own asyncio task count. At the end:

- growth per process over the run: least-squares slope of its USS (MiB per hour), its file
  descriptors and threads first and last (a process that lived through the whole run counts; a
  call actor started on the way is new, not growth);
- the audio latency (caller -> model, model -> caller) p50 / p99 per minute, and its drift
  (the last minutes against the first);
- Postgres against what was placed: a call row with an outcome and an end for every call, and
  turns for each; `/metrics` against the calls placed (claims and outcomes counted).

I/O: the driver's (bench.runner.Session: engine, simulator, callers), psutil for /proc,
asyncpg for Postgres. Results go to bench/results/<stamp>-soak.{json,md,png}, as the other
modes'. Everything on 127.0.0.1; a run is bounded by `--duration`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.analysis import analyse
from bench.runner import Options, Session, say
from bench.sampling import role_of
from bench.targets import Target

MINUTE_S = 60.0


@dataclass(slots=True)
class Series:
    """One process's readings over the run."""

    pid: int
    role: str
    created: float  # monotonic
    name: str = ""  # its command line, shortened
    t: list[float] = field(default_factory=list)
    uss_mb: list[float] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)


class Footprint:
    """USS, file descriptors and threads of every process under `driver` (and `extra` pids and
    theirs), read on `sample()`; a process is keyed by pid and start time."""

    def __init__(self, driver: int, extra: Iterable[int] = ()) -> None:
        self._driver = driver
        self._extra = list(extra)
        self._offset = time.time() - time.monotonic()
        self.series: dict[tuple[int, float], Series] = {}

    def _processes(self) -> list[psutil.Process]:
        procs: list[psutil.Process] = []
        for pid in [self._driver, *self._extra]:
            try:
                top = psutil.Process(pid)
                procs += [top, *top.children(recursive=True)]
            except psutil.Error:
                continue
        return procs

    def sample(self) -> int:
        """Read every process once; returns how many were read."""
        read = 0
        for proc in self._processes():
            try:
                with proc.oneshot():
                    cmd = " ".join(proc.cmdline())
                    created = round(proc.create_time() - self._offset, 1)
                    uss = proc.memory_full_info().uss / 2**20
                    fds = proc.num_fds()
                    threads = proc.num_threads()
            except psutil.Error:
                continue
            now = time.monotonic()
            key = (proc.pid, created)
            series = self.series.get(key)
            role = role_of(cmd, proc.pid, self._driver)
            if series is None:
                series = self.series[key] = Series(proc.pid, role, created, cmd[:80])
            elif role != "ray system":
                series.role = role  # a Ray worker becomes an actor after it started
                series.name = cmd[:80]
            series.t.append(now)
            series.uss_mb.append(round(uss, 2))
            series.fds.append(fds)
            series.threads.append(threads)
            read += 1
        return read


def slope_per_hour(t: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of y over t (seconds), per hour; 0 for fewer than two points."""
    n = len(t)
    if n < 2:
        return 0.0
    mean_t, mean_y = sum(t) / n, sum(y) / n
    var = sum((a - mean_t) ** 2 for a in t)
    if var == 0:
        return 0.0
    cov = sum((a - mean_t) * (b - mean_y) for a, b in zip(t, y, strict=True))
    return cov / var * 3600.0


def growth(series: Iterable[Series], start: float, end: float, every: float) -> dict[str, Any]:
    """Per role, over the processes that lived through [start, end] (read within one sampling
    period of both ends): USS first / last / summed slope, the steepest process, file
    descriptors and threads first / last."""
    roles: dict[str, dict[str, Any]] = {}
    for s in series:
        if not s.t or s.t[0] > start + every or s.t[-1] < end - every:
            continue
        pick = [i for i, at in enumerate(s.t) if start - every <= at <= end + every]
        if len(pick) < 2:
            continue
        t = [s.t[i] for i in pick]
        uss = [s.uss_mb[i] for i in pick]
        slope = slope_per_hour(t, uss)
        role = roles.setdefault(
            s.role,
            {
                "processes": 0,
                "uss_first_mb": 0.0,
                "uss_last_mb": 0.0,
                "uss_slope_mb_per_h": 0.0,
                "steepest_mb_per_h": -math.inf,
                "fds_first": 0,
                "fds_last": 0,
                "fds_max_growth": 0,
                "threads_first": 0,
                "threads_last": 0,
            },
        )
        first, last = pick[0], pick[-1]
        role["processes"] += 1
        role["uss_first_mb"] += s.uss_mb[first]
        role["uss_last_mb"] += s.uss_mb[last]
        role["uss_slope_mb_per_h"] += slope
        role["steepest_mb_per_h"] = max(role["steepest_mb_per_h"], slope)
        role["fds_first"] += s.fds[first]
        role["fds_last"] += s.fds[last]
        role["fds_max_growth"] = max(role["fds_max_growth"], s.fds[last] - s.fds[first])
        role["threads_first"] += s.threads[first]
        role["threads_last"] += s.threads[last]
    for role in roles.values():
        for key in ("uss_first_mb", "uss_last_mb", "uss_slope_mb_per_h", "steepest_mb_per_h"):
            role[key] = round(role[key], 2)
    return roles


def steepest(series: Iterable[Series], start: float, end: float, top: int = 8) -> list[Any]:
    """The processes whose USS grew fastest over [start, end] (MiB per hour), with what they
    are, for a growth a role's sum does not explain."""
    rows = []
    for s in series:
        pick = [i for i, at in enumerate(s.t) if start <= at <= end]
        if len(pick) >= 3:
            t, uss = [s.t[i] for i in pick], [s.uss_mb[i] for i in pick]
            rows.append((round(slope_per_hour(t, uss), 1), s.role, s.pid, s.name, uss[0], uss[-1]))
    return sorted(rows, reverse=True)[:top]


def role_curves(series: Iterable[Series], times: Sequence[float]) -> dict[str, list[float]]:
    """Summed USS (MiB) per role at each sampling time (the nearest reading of each process)."""
    curves: dict[str, list[float]] = {}
    for s in series:
        curve = curves.setdefault(s.role, [0.0] * len(times))
        for k, at in enumerate(times):
            near = [i for i, t in enumerate(s.t) if abs(t - at) < 1.0]
            if near:
                curve[k] += s.uss_mb[near[0]]
    return {role: [round(v, 1) for v in curve] for role, curve in curves.items()}


async def postgres_check(
    app_url: str, numbers: Sequence[str], sids: Sequence[str]
) -> dict[str, Any]:
    """The calls placed, as Postgres holds them: rows, outcomes, ends, turns per role, post-call
    jobs done."""
    from memory.db import create_pool, tenant_tx
    from memory.tenants import resolve_number

    pool = await create_pool(app_url, min_size=1, max_size=2)
    found: dict[str, Any] = {
        "placed": len(sids),
        "rows": 0,
        "with_outcome": 0,
        "with_end": 0,
        "without_turns": 0,
        "turns": {},
        "outcomes": {},
        "post_call_jobs_done": 0,
    }
    try:
        tenants = {t for n in numbers if (t := await resolve_number(pool, n)) is not None}
        for tenant in tenants:
            async with tenant_tx(pool, tenant, timeout=60) as conn:
                rows = await conn.fetch(
                    "SELECT call_sid, outcome, ended_at IS NOT NULL AS ended FROM calls "
                    "WHERE call_sid = ANY($1::text[])",
                    list(sids),
                )
                turns = await conn.fetch(
                    "SELECT call_sid, role, count(*) AS n FROM call_turns "
                    "WHERE call_sid = ANY($1::text[]) GROUP BY call_sid, role",
                    list(sids),
                )
                jobs = await conn.fetchval(
                    "SELECT count(*) FROM post_call_jobs WHERE call_sid = ANY($1::text[]) "
                    "AND status = 'done'",
                    list(sids),
                )
            found["rows"] += len(rows)
            found["with_outcome"] += sum(1 for r in rows if r["outcome"])
            found["with_end"] += sum(1 for r in rows if r["ended"])
            for r in rows:
                found["outcomes"][r["outcome"]] = found["outcomes"].get(r["outcome"], 0) + 1
            with_turns = {r["call_sid"] for r in turns}
            found["without_turns"] += sum(1 for r in rows if r["call_sid"] not in with_turns)
            for r in turns:
                found["turns"][r["role"]] = found["turns"].get(r["role"], 0) + int(r["n"])
            found["post_call_jobs_done"] += int(jobs or 0)
    finally:
        await pool.close()
    return found


def _pool_tasks(target: Target) -> int | None:
    if target.pool_stats is None:
        return None
    try:
        return int(target.pool_stats().get("tasks", -1))
    except Exception:
        return None


COUNTED = ("neurosphere_call_claim_seconds_count", "neurosphere_calls_ended_total")


def counted(url: str | None) -> dict[str, float]:
    """The calls /metrics counts: claims (the claim histogram's count) and calls ended (every
    outcome), summed over their labels."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    if url is None:
        return {}
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local URL
        text = response.read().decode()
    out = dict.fromkeys(COUNTED, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in out:
                out[sample.name] += sample.value
    return out


def run_soak(
    opts: Options, *, cycle: int, cycle_every: float, sample_every: float
) -> dict[str, Any]:
    session = Session(opts)
    try:
        session.start()
        warm = opts.warm if opts.warm is not None else max(4, cycle * 2)
        with session.target("engine", warm=warm, calls=opts.calls) as target:
            return _soak(session, target, cycle=cycle, every=cycle_every, sample=sample_every)
    finally:
        session.close()


def _soak(
    session: Session, target: Target, *, cycle: int, every: float, sample: float
) -> dict[str, Any]:
    opts = session.opts
    footprint = Footprint(os.getpid(), target.extra_pids())
    callers = session.callers(target, "soak")
    samples: list[dict[str, Any]] = []
    cycles: list[dict[str, Any]] = []
    try:
        counted0 = counted(target.metrics_url)
        began = time.monotonic()
        grow = callers.request(
            {"op": "grow", "target": opts.calls, "rate": opts.rate, "settle_timeout": 90.0},
            opts.calls / opts.rate + 180,
        )
        say(f"soak: {grow['live']} live, {grow['failed']} failed; {opts.duration:g} s from now")
        start = time.monotonic()
        end = start + opts.duration
        next_sample, next_cycle = start, start + every
        while True:
            now = time.monotonic()
            if now >= next_sample:
                read = footprint.sample()
                samples.append(
                    {
                        "t_s": round(now - start, 1),
                        "processes": read,
                        "pool_tasks": _pool_tasks(target),
                        "cpu": session.sampler.window(now - sample, now),
                    }
                )
                next_sample += sample
            if now >= end:
                break
            if cycle and now >= next_cycle:
                done = callers.request(
                    {"op": "cycle", "count": cycle, "rate": opts.rate, "timeout": 30.0}, 180
                )
                cycles.append({"t_s": round(now - start, 1), **done})
                next_cycle += every
            time.sleep(max(0.0, min(next_sample, next_cycle, end) - time.monotonic()))
        callers.request({"op": "hangup", "timeout": 30.0}, 90)
        ended = time.monotonic()
        time.sleep(5.0)  # outcomes and post-call work land
        caller_dump, sim_dump = session.dumps(callers, began - 1.0, "soak")
        counted1 = counted(target.metrics_url)
    finally:
        callers.stop()
    minutes = []
    m0 = start
    while m0 + MINUTE_S / 2 <= end:
        m1 = min(m0 + MINUTE_S, end)
        window = analyse(caller_dump.streams, sim_dump.sessions, m0, m1)
        minutes.append(
            {
                "t_s": round(m0 - start),
                "calls": window.concurrent_calls,
                "inbound": _summary(window.inbound.latency_ms),
                "outbound": _summary(window.outbound.latency_ms),
                "lost": window.inbound.lost + window.outbound.lost,
            }
        )
        m0 = m1
    live = [s for s in caller_dump.streams if s.started_at is not None]
    sids = [s.call_sid for s in live]
    database = (
        asyncio.run(postgres_check(target.database_url, target.to_numbers, sids))
        if target.database_url
        else {}
    )
    times = [start + float(s["t_s"]) for s in samples]
    return {
        "mode": "soak",
        "options": {**asdict(opts), "cycle": cycle, "cycle_every": every, "sample_every": sample},
        "calls": {
            "placed": len(caller_dump.streams),
            "live": len(live),
            "outcomes": _count(s.outcome for s in caller_dump.streams),
            "agent_timeouts": sum(s.agent_timeouts for s in caller_dump.streams),
        },
        "run_s": round(ended - began, 1),
        "growth": growth(footprint.series.values(), start, end, sample),
        # the second half: past the start-up's caches and pools filling
        "steepest_second_half": steepest(footprint.series.values(), (start + end) / 2, end),
        "uss_by_role_mb": role_curves(footprint.series.values(), times),
        "samples": samples,
        "cycles": cycles,
        "latency_per_minute": minutes,
        "postgres": database,
        "metrics": _delta(counted0, counted1),
    }


def _summary(summary: Any) -> dict[str, float] | None:
    return None if summary is None else {"p50": summary.p50, "p99": summary.p99, "n": summary.n}


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return out


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(v - before.get(k, 0.0), 1) for k, v in after.items()}


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
        "| fds first -> last (max growth) | threads first -> last |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for role, g in sorted(result["growth"].items()):
        lines.append(
            f"| {role} | {g['processes']} | {g['uss_first_mb']:.1f} -> {g['uss_last_mb']:.1f} "
            f"| {g['uss_slope_mb_per_h']:+.1f}, {g['steepest_mb_per_h']:+.1f} "
            f"| {g['fds_first']} -> {g['fds_last']} ({g['fds_max_growth']:+d}) "
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
        "| minute | calls live all minute | in p50 / p99 ms | out p50 / p99 ms | lost |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m in result["latency_per_minute"]:
        i, o = m["inbound"] or {}, m["outbound"] or {}
        lines.append(
            f"| {m['t_s'] / 60:.0f} | {m['calls']} | {i.get('p50', '-')} / {i.get('p99', '-')} "
            f"| {o.get('p50', '-')} / {o.get('p99', '-')} | {m['lost']} |"
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
