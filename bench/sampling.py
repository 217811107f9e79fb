"""CPU and memory of the processes a benchmark runs (I/O: /proc through psutil, one thread).

`CpuSampler` reads, once a second, the CPU time of every process under the bench driver (Ray's
processes, Serve, the call actors, the embedded Postgres, the load-side helpers) plus any extra
pids it is given, and the machine's total busy time. A window's CPU per role is then the
difference of two samples, with processes born inside the window counted from zero, so a call
actor that lived only for the window is not lost. The machine total shows what *other* users of
the box burned at the same time: on a shared 2-core machine that matters.

`call_actor_uss` samples the unique set size (USS: memory freed if the process died) of call
actors in a call. Reading smaps costs milliseconds per process, so it samples at most `limit`.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

import psutil

LOAD_ROLES = ("callers", "simulator")
ENGINE_ROLES = (
    "call actors",
    "call actors warm",
    "serve",
    "control actors",
    "ray system",
    "postgres",
)
BASELINE_ROLES = ("baseline relay",)
_SERVE = ("ray::ServeReplica", "ray::ProxyActor", "ray::ServeController", "ray::HTTPProxy")
_CONTROL = ("ray::CallPool", "ray::TenantActor", "ray::MemoryActor")
# a call actor's process is titled by Ray after the task it runs: `ray::call <CallSid> (<tenant>)`
# while its `live_calls` task runs, named for its calls (actors/ray_runtime.Shown)
_CALL_ACTOR = ("ray::CallActor", "ray::call ")


def role_of(cmdline: str, pid: int, driver_pid: int) -> str:
    """Which part of the benchmark a process belongs to, from its command line."""
    if pid == driver_pid:
        return "driver"
    if "bench.loadgen" in cmdline:
        return "callers"
    if "bench.simproc" in cmdline:
        return "simulator"
    if "bench.baseline" in cmdline:
        return "baseline relay"
    if cmdline.startswith(_CALL_ACTOR):
        return "call actors"
    if cmdline.startswith(_SERVE):
        return "serve"
    if cmdline.startswith(_CONTROL):
        return "control actors"
    if "postgres" in cmdline.split(" ", 1)[0]:
        return "postgres"
    return "ray system"


@dataclass(slots=True)
class _Series:
    role: str
    created: float  # monotonic
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


class CpuSampler:
    """Per-process CPU time series for the driver's process tree (see the module docstring)."""

    def __init__(self, interval: float = 1.0, extra: Callable[[], Iterable[int]] | None = None):
        self.interval = interval
        self._extra = extra
        self._driver = os.getpid()
        self._series: dict[tuple[int, float], _Series] = {}
        self._machine_t: list[float] = []
        self._machine_busy: list[float] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._offset = time.time() - time.monotonic()

    def start(self) -> None:
        self._sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._sample()
            except Exception:  # noqa: S112 - a failed sample is skipped, the next one counts
                continue

    def _processes(self) -> list[psutil.Process]:
        me = psutil.Process(self._driver)
        procs = [me, *me.children(recursive=True)]
        if self._extra is not None:
            for pid in self._extra():
                try:
                    extra = psutil.Process(pid)
                    procs += [extra, *extra.children(recursive=True)]
                except psutil.Error:
                    continue
        return procs

    def _sample(self) -> None:
        procs = self._processes()
        now = time.monotonic()
        rows = []
        for proc in procs:
            try:
                with proc.oneshot():
                    cmd = " ".join(proc.cmdline())
                    times = proc.cpu_times()
                    created = proc.create_time() - self._offset
            except psutil.Error:
                continue
            rows.append((proc.pid, created, cmd, times.user + times.system))
        machine = psutil.cpu_times()
        busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
        busy += getattr(machine, "steal", 0.0)
        with self._lock:
            for pid, created, cmd, cpu in rows:
                key = (pid, round(created, 1))
                series = self._series.get(key)
                role = role_of(cmd, pid, self._driver)
                if series is None:
                    series = self._series[key] = _Series(role=role, created=created)
                elif role != "ray system":
                    series.role = role  # a Ray worker becomes an actor after it started
                series.times.append(now)
                series.cpu.append(cpu)
            self._machine_t.append(now)
            self._machine_busy.append(busy)

    def window(
        self, start: float, end: float, serving: Collection[int] | None = None
    ) -> dict[str, float]:
        """CPU seconds per role between two monotonic times, plus `machine` (all processes on
        the box) and `others` (machine minus everything of this benchmark). With `serving`
        (pids of call actors in a call), call actors are split into "call actors" (in a call)
        and "call actors warm" (idle or starting up: the pool refilling)."""
        totals: dict[str, float] = {}
        with self._lock:
            for (pid, _), series in self._series.items():
                i1 = bisect_right(series.times, end) - 1
                if i1 < 0:
                    continue
                i0 = bisect_right(series.times, start) - 1
                if i0 >= 0:
                    base = series.cpu[i0]
                elif series.created >= start - self.interval:
                    base = 0.0
                else:
                    base = series.cpu[0]
                used = series.cpu[i1] - base
                role = series.role
                if serving is not None and role == "call actors" and pid not in serving:
                    role = "call actors warm"
                if used > 0:
                    totals[role] = totals.get(role, 0.0) + used
            m1 = bisect_right(self._machine_t, end) - 1
            m0 = bisect_right(self._machine_t, start) - 1
            if m1 > max(m0, -1) and m0 >= 0:
                machine = self._machine_busy[m1] - self._machine_busy[m0]
                totals["machine"] = machine
                ours = sum(v for k, v in totals.items() if k != "machine")
                totals["others"] = max(0.0, machine - ours)
        return {k: round(v, 3) for k, v in totals.items()}

    def births(self, role: str, start: float, end: float) -> list[float]:
        """When processes of `role` were started (monotonic), between `start` and `end`."""
        with self._lock:
            return sorted(
                s.created
                for s in self._series.values()
                if s.role == role and start <= s.created <= end
            )

    def pids(self, role: str) -> list[int]:
        """Live pids currently classified as `role`."""
        with self._lock:
            keys = [k for k, s in self._series.items() if s.role == role]
        return [pid for pid, _ in keys if psutil.pid_exists(pid)]


def uss_mb(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).memory_full_info().uss) / 2**20
    except psutil.Error:
        return None


def serving_call_actors(media_ports: tuple[int, int]) -> dict[int, int]:
    """Call actors serving calls right now, pid -> calls: those holding accepted (ESTABLISHED)
    connections on a port of the media range, one per call. One scan of every socket on the
    machine (tens of milliseconds): done once per measurement window, not per sample."""
    low, high = media_ports
    pids: dict[int, int] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if (
            conn.pid is not None
            and conn.status == psutil.CONN_ESTABLISHED
            and conn.laddr
            and low <= conn.laddr.port <= high
        ):
            pids[conn.pid] = pids.get(conn.pid, 0) + 1
    return pids


def call_actor_uss(
    serving: Mapping[int, int], warm: Iterable[int], limit: int = 20
) -> dict[str, list[float]]:
    """USS (MiB) of up to `limit` call actors serving calls and up to `limit` warm ones, and
    how many calls each sampled serving actor had."""
    out: dict[str, list[float]] = {"active": [], "warm": [], "calls": []}
    for pid in sorted(serving)[:limit]:
        value = uss_mb(pid)
        if value is not None:
            out["active"].append(round(value, 1))
            out["calls"].append(serving[pid])
    for pid in sorted(set(warm) - set(serving))[:limit]:
        value = uss_mb(pid)
        if value is not None:
            out["warm"].append(round(value, 1))
    return out
