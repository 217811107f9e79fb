"""How many calls a node carries, and when it is full. Pure: the call pool feeds it samples.

A node admits what it can really carry: CALLS_PER_CORE live calls per core, measured with
`python -m bench ramp` on the 2-core machine (bench/README.md). It tells Ray's scheduler, which
places call actors by the `call_slot`s they book, one call actor's slots more (ray_call_slots).
Admission protects the calls already on the line: a node is full when its live calls fill its
capacity, when its free memory falls under a reserve, or (when the operator sets a limit) when
its CPU has stayed busy over that share for a few seconds. A call that arrives then gets its
tenant's overflow (admin_api.webhooks) instead of a place.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

CALLS_PER_CORE = 50
MIN_FREE_MEMORY_BYTES = 256 * 1024 * 1024
CPU_WINDOW_S = 5.0


def node_call_slots(cores: int) -> int:
    """The live calls a node of `cores` CPUs admits by default."""
    return max(1, cores) * CALLS_PER_CORE


def ray_call_slots(capacity: int, per_actor: int) -> int:
    """The `call_slot`s a node admitting `capacity` live calls gives Ray: the slots of the call
    actors that serve them, and one actor's more. An actor books a slot per call it can serve
    until it exits, so an actor that retires holds its slots while its last calls finish; the
    spare actor's slots let its replacement start beside it. Admission still caps the live
    calls at `capacity`."""
    return (-(-capacity // per_actor) + 1) * per_actor


@dataclass(frozen=True, slots=True)
class NodeLoad:
    """One look at the node: live calls, its free memory, its CPU busy share (None: unknown)."""

    live_calls: int
    free_memory_bytes: int
    cpu_busy: float | None


def full_reason(load: NodeLoad, *, capacity: int | None, cpu_max: float | None) -> str | None:
    """Why a new call may not be admitted now (None: it may). `capacity` None: no slot limit
    (a cluster whose autoscaler adds nodes); `cpu_max` None: CPU is not looked at."""
    if capacity is not None and load.live_calls >= capacity:
        return f"all {capacity} call slots live"
    if load.free_memory_bytes < MIN_FREE_MEMORY_BYTES:
        return f"{load.free_memory_bytes // (1024 * 1024)} MiB of memory free"
    if cpu_max is not None and load.cpu_busy is not None and load.cpu_busy >= cpu_max:
        return f"CPU {load.cpu_busy:.0%} busy over {CPU_WINDOW_S:.0f} s"
    return None


class CpuWindow:
    """The node's CPU busy share over the last CPU_WINDOW_S seconds, from cumulative
    (busy, total) CPU-seconds sampled about once a second."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, float, float]] = deque()

    def add(self, now: float, busy_s: float, total_s: float) -> None:
        self._samples.append((now, busy_s, total_s))
        while len(self._samples) > 2 and now - self._samples[1][0] >= CPU_WINDOW_S:
            self._samples.popleft()

    def busy(self) -> float | None:
        """None until the samples span most of the window."""
        if len(self._samples) < 2:
            return None
        (t0, busy0, total0), (t1, busy1, total1) = self._samples[0], self._samples[-1]
        if t1 - t0 < CPU_WINDOW_S * 0.8 or total1 <= total0:
            return None
        return (busy1 - busy0) / (total1 - total0)
