"""Running `calls` and `ramp`: start what is needed, drive the load, collect, analyse, stop.

I/O: everything, through `bench.targets` (engine, baseline, simulator), `bench.control` (the
callers process), `bench.sampling` (CPU, memory) and pickle files in a private temporary
directory that is removed at the end. Whatever a run starts, it stops, also on errors and on
Ctrl-C: no process outlives the command.

Process layout (all on 127.0.0.1): this process is the bench driver and, for the engine, also
its Ray driver (as `neurosphere serve` would be); the realtime simulator and the simulated
callers are one asyncio process each; the baseline relay is one uvicorn process.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.analysis import analyse, call_setup
from bench.control import Child
from bench.profiling import Profiler, pids_titled
from bench.records import CallerDump, SimDump
from bench.sampling import (
    BASELINE_ROLES,
    ENGINE_ROLES,
    LOAD_ROLES,
    CpuSampler,
    call_actor_uss,
    serving_call_actors,
)
from bench.targets import (
    Target,
    external_target,
    histogram_delta,
    scrape_metrics,
    start_baseline,
    start_engine_target,
    start_simulator,
)
from bench.window_report import STARTING_S, WindowReport

MEDIA_PORTS = (28000, 31999)
MEMORY_RESERVE_MB = 3072


@dataclass(slots=True)
class Options:
    """Everything a run needs; built by `bench.__main__` from the command line."""

    mode: str = "calls"
    target: str = "both"  # engine | baseline | both (calls only)
    calls: int = 100
    rate: float = 20.0
    duration: float = 30.0
    warm: int | None = None
    tenants: int = 1
    steps: list[int] = field(default_factory=lambda: [10, 25, 50, 100, 150, 200, 300])
    window: float = 20.0
    p99_limit_ms: float = 20.0
    mem_per_call_mb: float = 80.0
    settle: float = 3.0
    webhook_url: str | None = None
    public_base_url: str | None = None
    auth_token: str | None = None
    to_numbers: list[str] = field(default_factory=list)
    status_path: str | None = "/twilio/status"
    realtime_port: int = 0
    sim_pace: float = 4.0
    sim_chunk_ms: int = 100
    sim_first_audio_delay_ms: int = 0
    barge_in_probability: float = 0.3
    seed: int = 1
    uss_samples: int = 20
    calls_per_actor: int = 1
    defaults: bool = False  # the engine on its shipped defaults: warm, calls_per_actor ignored
    profile: bool = False
    profile_dir: Path | None = None  # where py-spy's raw stacks are kept (default: dropped)


def say(text: str) -> None:
    sys.stdout.write(f"[bench {time.strftime('%H:%M:%S')}] {text}\n")
    sys.stdout.flush()


def _sleep_until(t: float) -> None:
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


class Session:
    """One bench invocation: temp dir, CPU sampler, simulator, the target being driven."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.tmp = Path(tempfile.mkdtemp(prefix="neurosphere-bench-run-"))
        self.sim: Child | None = None
        self.sim_url = ""
        self._extra: Callable[[], list[int]] = list
        self.sampler = CpuSampler(extra=lambda: self._extra())

    def start(self) -> None:
        self.sampler.start()
        opts = self.opts
        self.sim, self.sim_url = start_simulator(
            self.tmp,
            port=opts.realtime_port,
            pace=opts.sim_pace,
            chunk_ms=opts.sim_chunk_ms,
            first_audio_delay_ms=opts.sim_first_audio_delay_ms,
        )
        say(f"realtime simulator at {self.sim_url}")

    def close(self) -> None:
        if self.sim is not None:
            self.sim.stop()
        self.sampler.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @contextlib.contextmanager
    def target(self, kind: str, *, warm: int, calls: int) -> Iterator[Target]:
        opts = self.opts
        child: Child | None = None
        if kind == "external":
            assert opts.webhook_url is not None
            assert opts.auth_token is not None
            target = external_target(
                opts.webhook_url,
                opts.public_base_url,
                opts.auth_token,
                tuple(opts.to_numbers),
                opts.status_path,
            )
        elif kind == "baseline":
            target, child = start_baseline(self.tmp, self.sim_url)
        else:
            if opts.defaults:
                say("starting the engine on its shipped defaults (warm, calls per actor, slots)")
            else:
                say(f"starting the engine with {warm} warm call slots")
            target = start_engine_target(
                realtime_base_url=self.sim_url,
                warm=None if opts.defaults else warm,
                calls_per_actor=None if opts.defaults else opts.calls_per_actor,
                call_slots=None if opts.defaults else warm + calls + 50,
                tenants=opts.tenants,
                media_ports=MEDIA_PORTS,
                fill_timeout=max(120.0, 4.0 * warm),
                log=say,
            )
        self._extra = target.extra_pids
        try:
            yield target
        finally:
            say(f"stopping {kind}")
            target.stop()
            if child is not None:
                child.stop(timeout=1.0, ask=False)
            self._extra = list

    def callers(self, target: Target, name: str) -> Child:
        child = Child("callers", "bench.loadgen", [], self.tmp / f"{name}.log", os.environ)
        child.read(60)
        behaviour = {"barge_in_probability": self.opts.barge_in_probability}
        child.request(
            {
                "op": "configure",
                "target": target.spec(),
                "behaviour": behaviour,
                "seed": self.opts.seed,
            },
            60,
        )
        return child

    def dumps(self, callers: Child, since: float, name: str) -> tuple[CallerDump, SimDump]:
        assert self.sim is not None
        c_path, s_path = self.tmp / f"{name}-callers.pkl", self.tmp / f"{name}-sim.pkl"
        callers.request({"op": "dump", "path": str(c_path), "since": since}, 120)
        self.sim.request({"op": "dump", "path": str(s_path), "since": since - 5.0}, 120)
        # Written a moment ago by our own child processes, in our private temporary dir.
        caller_dump: CallerDump = pickle.loads(c_path.read_bytes())  # noqa: S301
        sim_dump: SimDump = pickle.loads(s_path.read_bytes())  # noqa: S301
        c_path.unlink()
        s_path.unlink()
        return caller_dump, sim_dump


def _window(
    callers: CallerDump, sim: SimDump, start: float, end: float, starts: list[float]
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


def _actors(session: Session, target: Target) -> tuple[dict[int, int] | None, Any]:
    """Call actors serving calls now (pid -> calls) and the USS of a sample of them (engine
    only)."""
    if target.kind != "engine" or target.media_ports is None:
        return None, None
    serving = serving_call_actors(target.media_ports)
    uss = call_actor_uss(serving, session.sampler.pids("call actors"), session.opts.uss_samples)
    return serving, uss


def _pool(target: Target) -> dict[str, Any] | None:
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


def _pool_delta(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
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


def calls_phase(
    session: Session, target: Target, n: int, rate: float, duration: float
) -> dict[str, Any]:
    """N calls arriving at `rate`/s, held `duration` s once all are live, then hung up."""
    opts = session.opts
    callers = session.callers(target, f"callers-{target.kind}")
    profiler = Profiler(opts.profile_dir or session.tmp / "profiles")
    profiling = opts.profile and target.kind == "engine"
    try:
        metrics0, pool0 = scrape_metrics(target.metrics_url, say), _pool(target)
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
        _sleep_until(w0 + duration / 2)
        serving, uss = _actors(session, target)
        if profiling and serving is not None:
            seconds = min(10.0, duration / 3)
            profiler.start("call actor in a call", sorted(serving)[:3], seconds)
            idle = [p for p in session.sampler.pids("call actors") if p not in serving]
            profiler.start("call actor warm (idle)", idle[:2], seconds)
        _sleep_until(w1 + 1.0)
        profiles = profiler.collect() if profiling else None
        callers.request({"op": "hangup", "timeout": 30.0}, 90)
        ended = time.monotonic()
        time.sleep(2.0)  # call reports reach the pool before it is read
        caller_dump, sim_dump = session.dumps(callers, began - 1.0, f"calls-{target.kind}")
        metrics1, pool1 = scrape_metrics(target.metrics_url, say), _pool(target)
    finally:
        callers.stop()
    starts = session.sampler.births("call actors", began - STARTING_S, ended)
    hold = _window(caller_dump, sim_dump, w0, w1, starts)
    whole = _window(caller_dump, sim_dump, began, ended, starts)
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
        "cpu_ms_per_call": _per_call(session.sampler.window(w0, w1, serving), w1 - w0, serving),
        "engine_reported": engine_side,
        "pool": _pool_delta(pool0, pool1),
        "profiles": profiles,
    }


def _per_call(
    cpu: dict[str, float], seconds: float, serving: dict[int, int] | None
) -> float | None:
    """CPU milliseconds per second that one call costs in the call actors serving calls."""
    if not serving or seconds <= 0:
        return None
    calls = sum(serving.values())
    return round(cpu.get("call actors", 0.0) / seconds / calls * 1000.0, 2)


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
        stats = _pool(target)
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
            _sleep_until(w0 + opts.window / 2)
            serving, uss = _actors(session, target)
            _sleep_until(w1 + 1.0)
            caller_dump, sim_dump = session.dumps(callers, w0 - 0.5, f"step-{step}")
            starts = session.sampler.births("call actors", w0 - STARTING_S, w1)
            report = _window(caller_dump, sim_dump, w0, w1, starts)
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
                    "cpu_ms_per_call": _per_call(
                        session.sampler.window(w0, w1, serving), w1 - w0, serving
                    ),
                    "cpu_cores": cores,
                    "uss_mb": uss,
                    "pool": _pool(target),
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
