"""What a `calls` or `ramp` phase reads around its measuring window, and how it reduces it.

The window's frames analysed (`bench.analysis`), the call actors serving calls and their USS, the
call pool's stats and their change, CPU seconds per role turned into cores and into CPU per call.

I/O: the call pool's stats through the target, psutil (via `bench.sampling`); the rest is pure.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from bench.analysis import analyse
from bench.records import CallerDump, SimDump
from bench.sampling import (
    BASELINE_ROLES,
    ENGINE_ROLES,
    LOAD_ROLES,
    call_actor_uss,
    serving_call_actors,
)
from bench.session import Session
from bench.targets import Target
from bench.window_report import WindowReport


def sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def cpu_cores(cpu: dict[str, float], seconds: float) -> dict[str, float]:
    """CPU seconds per role over a window -> cores used, with group totals."""
    if seconds <= 0:
        return {}
    cores = {k: round(v / seconds, 3) for k, v in cpu.items()}
    groups = {
        "engine": ENGINE_ROLES,
        "baseline": BASELINE_ROLES,
        "load side": LOAD_ROLES,
    }
    for name, roles in groups.items():
        total = sum(cores.get(r, 0.0) for r in roles)
        if total:
            cores[f"total {name}"] = round(total, 3)
    relay = cores.get("total engine", 0.0) + cores.get("total baseline", 0.0)
    load = cores.get("total load side", 0.0)
    if relay + load > 0:
        cores["load side share"] = round(load / (relay + load), 3)
    return cores


def analyse_window(
    callers: CallerDump,
    sim: SimDump,
    start: float,
    end: float,
    starts: list[float] | None = None,
) -> WindowReport:
    return analyse(
        callers.streams,
        sim.sessions,
        start,
        end,
        callers_lag=callers.lag,
        simulator_lag=sim.lag,
        starts=starts,
    )


def serving_actors(session: Session, target: Target) -> tuple[dict[int, int] | None, Any]:
    """Call actors serving calls now (pid -> calls) and the USS of a sample of them (engine
    only)."""
    if target.kind != "engine" or target.media_ports is None:
        return None, None
    serving = serving_call_actors(target.media_ports)
    uss = call_actor_uss(serving, session.sampler.pids("call actors"), session.opts.uss_samples)
    return serving, uss


def pool_now(target: Target) -> dict[str, Any] | None:
    if target.pool_stats is None:
        return None
    with contextlib.suppress(Exception):
        return pool_record(target.pool_stats())
    return None


def pool_record(stats: dict[str, Any]) -> dict[str, Any]:
    """The pool's stats as a result file can hold them: the pool counts live calls by
    (tenant id, name), a key JSON cannot write; here they are by tenant id."""
    by_tenant = stats.get("active_by_tenant") or {}
    return {**stats, "active_by_tenant": {tenant_id: n for (tenant_id, _), n in by_tenant.items()}}


def pool_delta(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    if before is None or after is None:
        return {}
    claims = {k: after["claims"].get(k, 0) - before["claims"].get(k, 0) for k in after["claims"]}
    frames = {k: after["frames"].get(k, 0) - before["frames"].get(k, 0) for k in after["frames"]}
    return {
        "claims": claims,
        "frames_reported": frames,
        "warm_after": after["warm"],
        "starting_after": after["starting"],
    }


def cpu_ms_per_call(
    cpu: dict[str, float], seconds: float, serving: dict[int, int] | None
) -> float | None:
    """CPU milliseconds per second that one call costs in the call actors serving calls."""
    if not serving or seconds <= 0:
        return None
    calls = sum(serving.values())
    return round(cpu.get("call actors", 0.0) / seconds / calls * 1000.0, 2)
