"""One bench run's processes: what is started for `calls`, `ramp` and `soak`, and stopped.

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
from dataclasses import dataclass, field
from pathlib import Path

from bench.control import Child
from bench.records import CallerDump, SimDump
from bench.sampling import CpuSampler
from bench.targets import (
    Target,
    external_target,
    start_baseline,
    start_engine_target,
    start_simulator,
)

MEDIA_PORTS = (28000, 31999)


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
