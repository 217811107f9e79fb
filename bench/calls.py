"""`python -m bench calls`: N calls arriving at a rate, held, hung up, against each target.

I/O: the run's processes (`bench.session`), the callers' process through its commands,
`/metrics` of the target, py-spy with `--profile`.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from bench.phase_readings import (
    analyse_window,
    cpu_cores,
    cpu_ms_per_call,
    pool_delta,
    pool_now,
    serving_actors,
    sleep_until,
)
from bench.profiling import Profiler, pids_titled
from bench.session import Options, Session, say
from bench.targets import Target, histogram_delta, scrape_metrics
from bench.window_report import STARTING_S


def calls_phase(
    session: Session, target: Target, n: int, rate: float, duration: float
) -> dict[str, Any]:
    """N calls arriving at `rate`/s, held `duration` s once all are live, then hung up."""
    opts = session.opts
    callers = session.callers(target, f"callers-{target.kind}")
    profiler = Profiler(opts.profile_dir or session.tmp / "profiles")
    profiling = opts.profile and target.kind == "engine"
    try:
        metrics0, pool0 = scrape_metrics(target.metrics_url, say), pool_now(target)
        if profiling:
            arrivals = n / rate + 3.0
            for title in (
                "ray::ServeReplica",
                "ray::TenantActor",
                "ray::CallPool",
                "ray::CallActor",
            ):
                profiler.start(f"webhook: {title[5:]}", pids_titled(title), arrivals)
        began = time.monotonic()
        say(f"{target.kind}: placing {n} calls at {rate:g}/s")
        grow = callers.request(
            {"op": "grow", "target": n, "rate": rate, "settle_timeout": 90.0}, n / rate + 180
        )
        say(
            f"{target.kind}: {grow['live']} live, {grow['failed']} failed, "
            f"{grow['refused']} refused; holding {duration:g} s"
        )
        w0 = max(time.monotonic(), float(grow["last_live_at"])) + opts.settle
        w1 = w0 + duration
        sleep_until(w0 + duration / 2)
        serving, uss = serving_actors(session, target)
        if profiling and serving is not None:
            seconds = min(10.0, duration / 3)
            profiler.start("call actor in a call", sorted(serving)[:3], seconds)
            idle = [p for p in session.sampler.pids("call actors") if p not in serving]
            profiler.start("call actor warm (idle)", idle[:2], seconds)
        sleep_until(w1 + 1.0)
        profiles = profiler.collect() if profiling else None
        callers.request({"op": "hangup", "timeout": 30.0}, 90)
        ended = time.monotonic()
        time.sleep(2.0)  # call reports reach the pool before it is read
        caller_dump, sim_dump = session.dumps(callers, began - 1.0, f"calls-{target.kind}")
        metrics1, pool1 = scrape_metrics(target.metrics_url, say), pool_now(target)
    finally:
        callers.stop()
    starts = session.sampler.births("call actors", began - STARTING_S, ended)
    hold = analyse_window(caller_dump, sim_dump, w0, w1, starts)
    whole = analyse_window(caller_dump, sim_dump, began, ended, starts)
    engine_side = {
        name: histogram_delta(metrics0, metrics1, f"neurosphere_{name}_seconds")
        for name in ("call_claim", "greeting", "audio_inbound", "audio_outbound", "webhook")
    }
    say(
        f"{target.kind}: hold window {hold.concurrent_calls} calls, in p99 "
        f"{_p(hold.inbound.latency_ms)} ms, out p99 {_p(hold.outbound.latency_ms)} ms, "
        f"lost {hold.frames_lost}"
    )
    return {
        "target": target.kind,
        "startup": target.startup,
        "calls": n,
        "rate": rate,
        "duration_s": duration,
        "grow": grow,
        "hold": hold.to_json(),
        "whole": whole.to_json(),
        "cpu_cores": {
            "hold": cpu_cores(session.sampler.window(w0, w1, serving), w1 - w0),
            "whole": cpu_cores(session.sampler.window(began, ended), ended - began),
        },
        "hold_window_s": [round(w0 - began, 2), round(w1 - began, 2)],
        "call_actor_starts_s": [round(t - began, 2) for t in starts],
        "uss_mb": uss,
        "serving_actors": len(serving) if serving is not None else None,
        "cpu_ms_per_call": cpu_ms_per_call(
            session.sampler.window(w0, w1, serving), w1 - w0, serving
        ),
        "engine_reported": engine_side,
        "pool": pool_delta(pool0, pool1),
        "profiles": profiles,
    }


def _p(summary: Any) -> str:
    return "-" if summary is None else f"{summary.p99:.2f}"


def run_calls(opts: Options) -> dict[str, Any]:
    if opts.webhook_url:
        kinds = ["external"]
    elif opts.target == "both":
        kinds = ["baseline", "engine"]
    else:
        kinds = [opts.target]
    session = Session(opts)
    runs: dict[str, Any] = {}
    try:
        session.start()
        for kind in kinds:
            warm = opts.warm if opts.warm is not None else opts.calls
            with session.target(kind, warm=warm, calls=opts.calls) as target:
                runs[kind] = calls_phase(session, target, opts.calls, opts.rate, opts.duration)
    finally:
        session.close()
    return {"mode": "calls", "options": asdict(opts), "runs": runs}
