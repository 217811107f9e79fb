"""Whether the call pool's node may take one more call (engine.node_capacity decides): not
when the calls live there fill its capacity (`call_capacity`, from the `call_slot`s the node
advertises), when its free memory is under a reserve, or when its CPU has been busier than
`admit_cpu_max` for seconds (sampled once a second while CPU admission is on). I/O: psutil
reads of /proc (no blocking worth a thread). State it owns: the CPU window, its sampler task
(in the pool's TaskSet) and the count of refusals.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psutil
import structlog

from actors.ports import NodeFull
from engine.config import EngineConfig
from engine.node_capacity import CpuWindow, NodeLoad, full_reason, ray_call_slots
from engine.task_set import TaskSet

log = structlog.get_logger(__name__)

UNBOUNDED_ROOM = 1000  # room reported by a node with no slot limit (autoscaled clusters)


class NodeAdmission:
    def __init__(self, config: EngineConfig, tasks: TaskSet) -> None:
        self._capacity = config.call_capacity
        self._per_actor = config.calls_per_actor
        # the node's call slots in Ray (engine.node_capacity.ray_call_slots); None: no limit
        self._ray_slots = (
            None if self._capacity is None else ray_call_slots(self._capacity, self._per_actor)
        )
        self._cpu_max = config.admit_cpu_max
        self._tasks = tasks
        self._cpu = CpuWindow()
        self._cpu_task: asyncio.Task[Any] | None = None
        self.refusals = 0

    def wanted_free(self, target: int, claimed: int) -> int:
        """Free slots to keep: the warm target, but never more than the node may still admit
        (a full node needs no actor started for calls it will refuse)."""
        if self._capacity is None:
            return target
        return min(target, max(0, self._capacity - claimed))

    def fits(self, actors: int) -> bool:
        """Whether Ray can place one more call actor on the node beside `actors` (retiring and
        starting ones too): each books a call slot for every call it can serve, live or not,
        until it exits, and the node gives Ray one actor's slots beyond its capacity
        (engine.node_capacity.ray_call_slots). An actor that does not fit would wait in Ray's
        queue, and Ray answers a waiting actor with a full garbage collection in every worker
        of the cluster every 10 s (each a stall of the audio of every call in that process)."""
        return self._ray_slots is None or (actors + 1) * self._per_actor <= self._ray_slots

    def unplaced(self, actors: int) -> str | None:
        """Why a claim no free slot takes may not start a call actor (counted as a refusal):
        the node's slots are booked by `actors` (some finishing their last calls), or None."""
        if self.fits(actors):
            return None
        self.refusals += 1
        booked = self._ray_slots
        return f"all {booked} of Ray's call slots are booked by call actors finishing their calls"

    def refusal(self, claimed: int) -> str | None:
        """Why one more call may not be admitted with `claimed` calls live (counted as a
        refusal), or None when it may."""
        if self._cpu_max is not None and self._cpu_task is None:
            self._cpu_task = self._tasks.spawn(self._sample_cpu())
        load = NodeLoad(claimed, psutil.virtual_memory().available, self._cpu.busy())
        reason = full_reason(load, capacity=self._capacity, cpu_max=self._cpu_max)
        if reason is not None:
            self.refusals += 1
        return reason

    @staticmethod
    def turn_away(call_sid: str, reason: str | None) -> None:
        """With a reason (`refusal`, `unplaced`) the call is not admitted: the calls on the line
        keep their place and this one overflows (NodeFull: the tenant's overflow answers it)."""
        if reason is not None:
            log.warning("call_refused_node_full", call_sid=call_sid, reason=reason)
            raise NodeFull(reason)

    def room(self, claimed: int) -> int:
        """How many more calls the node admits now with `claimed` live (not counted as
        refusals): 0 when full, UNBOUNDED_ROOM without a slot limit."""
        load = NodeLoad(claimed, psutil.virtual_memory().available, self._cpu.busy())
        if full_reason(load, capacity=self._capacity, cpu_max=self._cpu_max) is not None:
            return 0
        return UNBOUNDED_ROOM if self._capacity is None else self._capacity - claimed

    async def _sample_cpu(self) -> None:
        """The node's CPU, once a second."""
        while True:
            times = psutil.cpu_times()
            total = sum(times)
            idle = times.idle + getattr(times, "iowait", 0.0)
            self._cpu.add(time.monotonic(), total - idle, total)
            await asyncio.sleep(1.0)
