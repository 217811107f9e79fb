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

I/O: the driver's (bench.session.Session: engine, simulator, callers), psutil for /proc
(bench.soak_footprint), asyncpg for Postgres (bench.soak_checks). Results go to
bench/results/<stamp>-soak.{json,md,png} (bench.soak_report), as the other modes'. Everything on
127.0.0.1; a run is bounded by `--duration`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from bench.phase_readings import analyse_window
from bench.session import Options, Session, say
from bench.soak_checks import counted, postgres_check
from bench.soak_footprint import Footprint, growth, role_curves, steepest
from bench.targets import Target

MINUTE_S = 60.0


def _pool_tasks(target: Target) -> int | None:
    if target.pool_stats is None:
        return None
    try:
        return int(target.pool_stats().get("tasks", -1))
    except Exception:
        return None


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
        window = analyse_window(caller_dump, sim_dump, m0, m1)
        minutes.append(
            {
                "t_s": round(m0 - start),
                "calls": window.concurrent_calls,
                "inbound": _summary(window.inbound.latency_ms),
                "outbound": _summary(window.outbound.latency_ms),
                "lost": window.inbound.lost + window.outbound.lost,
                # the load side's own event-loop lag: late there is charged to the engine
                "callers_lag": _summary(window.callers_lag_ms),
                "simulator_lag": _summary(window.simulator_lag_ms),
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
    if summary is None:
        return None
    return {"p50": summary.p50, "p99": summary.p99, "max": summary.max, "n": summary.n}


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return out


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(v - before.get(k, 0.0), 1) for k, v in after.items()}
