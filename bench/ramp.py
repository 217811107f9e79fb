"""`python -m bench ramp`: more calls step by step until a step misses the latency limits.

Each step grows the calls to its size, waits for the warm pool to refill, measures a window and
passes or fails it; memory is checked before each step so a ramp stops before the machine swaps.

I/O: the run's processes (`bench.session`), the callers' process through its commands, psutil
for the memory available.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import psutil

from bench.analysis import call_setup
from bench.phase_readings import (
    analyse_window,
    cpu_cores,
    cpu_ms_per_call,
    pool_now,
    serving_actors,
    sleep_until,
)
from bench.session import Options, Session, say
from bench.targets import Target
from bench.window_report import STARTING_S

MEMORY_RESERVE_MB = 3072


def _memory_ok(target: Target, current: int, step: int, per_call_mb: float) -> tuple[bool, str]:
    if target.kind != "engine":
        return True, ""
    available = psutil.virtual_memory().available / 2**20
    needed = (step - current) * per_call_mb + MEMORY_RESERVE_MB
    if available < needed:
        return False, (
            f"stopped before {step} calls: {available:.0f} MiB available, "
            f"{needed:.0f} MiB needed ({per_call_mb:.0f} MiB per call + reserve)"
        )
    return True, ""


def _wait_refill(target: Target, claimed: int) -> float | None:
    """Wait until the warm pool has replaced the actors just claimed, so that a ramp step
    measures calls in progress and not the start-up of their replacements (each call actor
    start costs about a CPU-second). Seconds waited; None when it did not refill in time."""
    if target.pool_stats is None or claimed <= 0:
        return 0.0
    began = time.monotonic()
    deadline = began + max(60.0, 3.0 * claimed)
    want = int(target.startup.get("warm_target", 0))
    while time.monotonic() < deadline:
        stats = pool_now(target)
        if stats is not None and stats["warm"] >= want and stats["starting"] == 0:
            return round(time.monotonic() - began, 1)
        time.sleep(1.0)
    return None


def ramp_phase(session: Session, target: Target) -> dict[str, Any]:
    opts = session.opts
    callers = session.callers(target, f"ramp-{target.kind}")
    steps: list[dict[str, Any]] = []
    stopped = ""
    try:
        live = 0
        for step in sorted(opts.steps):
            ok, reason = _memory_ok(target, live, step, opts.mem_per_call_mb)
            if not ok:
                stopped = reason
                say(reason)
                break
            grown_at = time.monotonic()
            grow = callers.request(
                {"op": "grow", "target": step, "rate": opts.rate, "settle_timeout": 90.0},
                (step - live) / opts.rate + 180,
            )
            refill_s = _wait_refill(target, step - live)
            live = int(grow["active"])
            w0 = max(time.monotonic(), float(grow["last_live_at"])) + opts.settle
            w1 = w0 + opts.window
            sleep_until(w0 + opts.window / 2)
            serving, uss = serving_actors(session, target)
            sleep_until(w1 + 1.0)
            caller_dump, sim_dump = session.dumps(callers, w0 - 0.5, f"step-{step}")
            starts = session.sampler.births("call actors", w0 - STARTING_S, w1)
            report = analyse_window(caller_dump, sim_dump, w0, w1, starts)
            setup = call_setup(caller_dump.streams, grown_at, w0)
            cores = cpu_cores(session.sampler.window(w0, w1, serving), w1 - w0)
            failed = int(grow["failed"]) + int(grow["refused"])
            passed = (
                report.p99_ms() < opts.p99_limit_ms
                and report.frames_lost == 0
                and failed == 0
                and report.unlinked_calls == 0
                and report.concurrent_calls >= step
            )
            steps.append(
                {
                    "calls": step,
                    "passed": passed,
                    "grow": grow,
                    "window": report.to_json(),
                    "setup": asdict(setup),
                    "pool_refill_s": refill_s,
                    "cpu_ms_per_call": cpu_ms_per_call(
                        session.sampler.window(w0, w1, serving), w1 - w0, serving
                    ),
                    "cpu_cores": cores,
                    "uss_mb": uss,
                    "pool": pool_now(target),
                }
            )
            say(
                f"{step:4d} calls: in p50/p99/max {_s(report.inbound.latency_ms)} ms, out "
                f"{_s(report.outbound.latency_ms)} ms, lost {report.frames_lost}, failed "
                f"{failed}, engine {cores.get('total engine', cores.get('total baseline', 0))} "
                f"cores, load {cores.get('total load side', 0)} cores, "
                f"{'PASS' if passed else 'FAIL'}"
            )
            if not passed:
                stopped = f"step {step} missed the limits"
                break
        callers.request({"op": "hangup", "timeout": 60.0}, 120)
    finally:
        callers.stop()
    held = [s["calls"] for s in steps if s["passed"]]
    return {
        "target": target.kind,
        "startup": target.startup,
        "steps": steps,
        "max_calls_held": max(held) if held else 0,
        "stopped": stopped,
        "p99_limit_ms": opts.p99_limit_ms,
    }


def _s(summary: Any) -> str:
    if summary is None:
        return "-"
    return f"{summary.p50:.2f}/{summary.p99:.2f}/{summary.max:.1f}"


def run_ramp(opts: Options) -> dict[str, Any]:
    kind = "external" if opts.webhook_url else ("engine" if opts.target == "both" else opts.target)
    session = Session(opts)
    try:
        session.start()
        warm = opts.warm if opts.warm is not None else 50
        with session.target(kind, warm=warm, calls=max(opts.steps)) as target:
            result = ramp_phase(session, target)
    finally:
        session.close()
    return {"mode": "ramp", "options": asdict(opts), "runs": {kind: result}}
