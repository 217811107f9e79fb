"""What a soak reads of every engine process, and the growth it finds in those readings.

`Footprint` reads each process's USS, open file descriptors and threads, and how many of those
descriptors are Ray's own connections to other Ray processes; `growth` sums, per role, the
least-squares slope of the USS of the processes that lived through the run, with their file
descriptors, Ray connections and threads first and last; `steepest` and `role_curves` are for
the report.

Ray's connections are told apart because their number follows the workers alive, not the calls:
a Ray process keeps a connection to each live worker it has called (a call actor started a
minute ago adds one, which closes when that actor ends). A descriptor kept per call is in the
rest.

I/O: psutil (/proc) in `Footprint.sample`; the rest is pure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.sampling import ENGINE_ROLES, role_of

# the engine's processes that are Ray's: its own (GCS, raylet, agents) and its workers (actors)
RAY_ROLES = frozenset(ENGINE_ROLES) - {"postgres"}


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
    ray_links: list[int] = field(default_factory=list)  # of fds: TCP to another Ray process
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
        read: list[tuple[Series, float, int, int]] = []
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
            key = (proc.pid, created)
            series = self.series.get(key)
            role = role_of(cmd, proc.pid, self._driver)
            if series is None:
                series = self.series[key] = Series(proc.pid, role, created, cmd[:80])
            elif role != "ray system":
                series.role = role  # a Ray worker becomes an actor after it started
                series.name = cmd[:80]
            read.append((series, uss, fds, threads))
        links = _ray_links({series.pid: series.role for series, *_ in read})
        now = time.monotonic()
        for series, uss, fds, threads in read:
            series.t.append(now)
            series.uss_mb.append(round(uss, 2))
            series.fds.append(fds)
            series.ray_links.append(links.get(series.pid, 0))
            series.threads.append(threads)
        return len(read)


def _ray_links(roles: dict[int, str]) -> dict[int, int]:
    """Per pid of `roles`, its TCP connections whose other end is a Ray process of `roles`."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return {}
    owner = {c.laddr.port: c.pid for c in conns if c.pid in roles and c.laddr}
    links: dict[int, int] = {}
    for c in conns:
        if c.pid in roles and c.raddr and roles.get(owner.get(c.raddr.port, -1)) in RAY_ROLES:
            links[c.pid] = links.get(c.pid, 0) + 1
    return links


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
    descriptors (and of them Ray's connections) and threads first / last."""
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
                "ray_links_first": 0,
                "ray_links_last": 0,
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
        role["ray_links_first"] += s.ray_links[first]
        role["ray_links_last"] += s.ray_links[last]
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
