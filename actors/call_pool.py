"""CallPool: the named actor `call_pool` that keeps K call slots warm.

Starting a Ray actor costs hundreds of milliseconds; a caller must never wait for it. The pool
starts call actors ahead of time (each binds its media port on start) so that at least K call
slots are free (an actor has `calls_per_actor` slots; by default one), hands a slot out on
claim, and starts replacements in the background. A claim answers with the media URL (known
from the actor's port) as soon as it has sent `prepare`, without waiting for the reply: the
actor holds Twilio's handshake until the call is handed over. Claims fill the busiest actor
that has room, so idle actors stay idle and can be let go.

Admission protects the calls on the line (engine.node_capacity): a claim is refused with
`NodeFull` when the calls live here fill the node's capacity (`call_capacity`, from the
`call_slot`s the node advertises), when the node's free memory is under a reserve, or when its
CPU has been busier than `admit_cpu_max` for seconds; the tenant actor then answers with the
tenant's overflow. Refills never start actors for slots a full node would not use.

When a call ends its slot is recycled (a new session for the next call), unless the actor
retires; a retired actor is killed once its last call is over. After a burst more than K slots
are free; idle actors beyond that are let go slowly, one per `pool_idle_trim_s`. While calls
are live, refills pause between starts (`pool_refill_pause_s`): an actor start costs about a
CPU-second, which live audio must not lose.

State it owns: the call actors it started (handle, port, their calls, retired or not), the
active calls (CallSid -> actor, tenant), and the sums of the calls' reports (/metrics,
actors/report_totals.py). Call actors report their live calls' measurements so far every few
seconds (`calls_live`, one Ray call per actor, never per frame) and each call's last at its end
(`call_ended`); every report is cumulative, so only what is new since the call's previous one is
counted.

Idempotent methods: `claim` for a CallSid already claimed returns the same media URL;
`call_ended`; `calls_live`; `drain`; `stats`; `check_health`.

Draining (engine stop, a rolling replacement of call actors): see `drain`.

When it dies: Ray restarts it with an empty pool that refills at once. Call actors are
detached, so live calls go on; when one ends it reports to the new pool, which adopts its
actor (or kills it, if it retires).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil
import structlog

from actors.ports import CallActorFactory, CallReport, CallSetup, NodeFull
from actors.report_totals import ReportTotals
from engine.config import EngineConfig, MediaAddress
from engine.histogram import Histogram
from engine.logs import configure_actor
from engine.node_capacity import CpuWindow, NodeLoad, full_reason
from engine.task_set import TaskSet

log = structlog.get_logger(__name__)

CLAIM_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000)
END_CALLS_TIMEOUT_S = 10.0  # a call's outcome, turns and post-call job written, sockets closed
COLD_START_TRIES = 2
# A node that lost a call's actor and whose actors do not answer is avoided this long: Ray
# marks a dead node after its health checks fail (some 15 s by default); until then it would
# place new actors there.
SUSPECT_HOLD_S = 30.0


@dataclass(eq=False)
class _Actor:
    handle: Any
    address: MediaAddress
    calls: set[str] = field(default_factory=set)
    retired: bool = False
    idle_since: float = field(default_factory=time.monotonic)


class CallPool:
    def __init__(self, config: EngineConfig, factory: CallActorFactory | None = None) -> None:
        configure_actor(config)
        if factory is None:
            from actors.handles import RayCallActorFactory

            factory = RayCallActorFactory(config)
        self._factory = factory
        self._target = config.warm_calls
        self._config = config
        self._capacity = config.calls_per_actor
        self._actors: list[_Actor] = []  # oldest first
        self._tasks = TaskSet("call_pool", log)
        self._recycled = 0
        self._trim_task: asyncio.Task[None] | None = None
        self._starting = 0
        self._active: dict[str, tuple[_Actor, str, int]] = {}  # call -> (actor, url, attempt)
        self._tenant_of: dict[str, tuple[str, str]] = {}  # active call -> (tenant id, name)
        self._counted: dict[str, CallReport] = {}  # live call -> its last report, counted
        self._refill_task: asyncio.Task[None] | None = None
        self._warmed = asyncio.Event()
        self._reported = ReportTotals()
        self._claims = {"warm": 0, "cold": 0}
        self._claim_ms = Histogram.with_bounds(CLAIM_BUCKETS_MS)
        self._draining = False
        self._released = asyncio.Event()  # set whenever a call's slot is given back
        self._suspects: dict[str, float] = {}  # node that lost a call's actor -> avoided until
        self._cpu = CpuWindow()
        self._cpu_task: asyncio.Task[Any] | None = None
        self._full_refusals = 0

    def __repr__(self) -> str:
        return f"CallPool(free slots={self._free()}, live={self._claimed()})"

    def _free(self) -> int:
        return sum(self._capacity - len(a.calls) for a in self._actors if not a.retired)

    def _claimed(self) -> int:
        """Slots calls hold now, counted on the actors (retiring ones too), not by CallSid."""
        return sum(len(a.calls) for a in self._actors)

    def _wanted_free(self) -> int:
        """Free slots to keep: the warm target, but never more than the node may still admit
        (a full node needs no actor started for calls it will refuse)."""
        capacity = self._config.call_capacity
        if capacity is None:
            return self._target
        return min(self._target, max(0, capacity - self._claimed()))

    def _full_reason(self) -> str | None:
        if self._config.admit_cpu_max is not None and self._cpu_task is None:
            self._cpu_task = self._tasks.spawn(self._sample_cpu())
        load = NodeLoad(self._claimed(), psutil.virtual_memory().available, self._cpu.busy())
        return full_reason(
            load, capacity=self._config.call_capacity, cpu_max=self._config.admit_cpu_max
        )

    async def _sample_cpu(self) -> None:
        """The node's CPU, once a second (psutil reads /proc: no blocking worth a thread)."""
        while True:
            times = psutil.cpu_times()
            total = sum(times)
            idle = times.idle + getattr(times, "iowait", 0.0)
            self._cpu.add(time.monotonic(), total - idle, total)
            await asyncio.sleep(1.0)

    def _kick_refill(self) -> None:
        if self._refill_task is None or self._refill_task.done():
            self._refill_task = asyncio.get_running_loop().create_task(self._refill())

    def _short(self) -> bool:
        if self._draining:
            return False
        return self._free() + self._starting * self._capacity < self._wanted_free()

    async def _refill(self) -> None:
        while self._short():
            if self._claimed() and self._config.pool_refill_pause_s > 0:
                await asyncio.sleep(self._config.pool_refill_pause_s)
                if not self._short():
                    return  # a finished call's slot came back meanwhile
            self._starting += 1
            try:
                handle = self._factory.spawn(self._suspect_nodes())
                address = await self._factory.start(handle)
                self._actors.append(_Actor(handle, address))
                self._warmed.set()
            except Exception as exc:
                log.error("call_actor_start_failed", error=repr(exc))
                await asyncio.sleep(1.0)
            finally:
                self._starting -= 1

    async def warm_up(self, timeout: float = 60.0) -> int:
        """Fill the pool and wait until it is full (start-up, tests). Returns free slots."""
        self._kick_refill()
        deadline = time.monotonic() + timeout
        while self._free() < self._wanted_free():
            self._warmed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._warmed.wait(), remaining)
        return self._free()

    async def claim(self, setup: CallSetup) -> str:
        """Hand a call to a free slot (or, when none is free, a new actor) and return the media
        URL Twilio should connect to; the actor's `prepare` is sent, not awaited."""
        known = self._active.get(setup.call_sid)
        if known is not None and known[2] == setup.attempt:
            return known[1]
        if self._draining:  # the tenant actor answers the webhook politely instead
            raise RuntimeError("the engine is draining: no new calls")
        if known is not None:  # the call resumes: its previous actor is gone or going
            self._suspect(known[0].address.node)
            self._drop_call(known[0], setup.call_sid)
        full = self._full_reason()
        if full is not None:  # the calls on the line keep their place; this one overflows
            self._full_refusals += 1
            log.warning("call_refused_node_full", call_sid=setup.call_sid, reason=full)
            raise NodeFull(full)
        began = time.perf_counter()
        actor = await self._warm_actor(setup.call_sid, resuming=known is not None)
        kind = "warm"
        if actor is None:
            actor = await self._cold_actor()
            actor.calls.add(setup.call_sid)
            kind = "cold"
        self._kick_refill()
        url = self._config.media_url(actor.address, setup.call_sid)
        self._active[setup.call_sid] = (actor, url, setup.attempt)
        self._tenant_of[setup.call_sid] = (setup.tenant.tenant_id, setup.tenant.name)
        self._track(self._prepare(actor, setup))
        elapsed = (time.perf_counter() - began) * 1000
        self._claims[kind] += 1
        self._claim_ms.observe(elapsed)
        log.info("call_claimed", call_sid=setup.call_sid, kind=kind, claim_ms=round(elapsed, 2))
        return url

    async def _cold_actor(self) -> _Actor:
        """A new actor, started now, away from suspect nodes. Ray may still place it on a node
        that just died and does not know it yet (its start then fails): one more try goes
        elsewhere."""
        for attempt in range(COLD_START_TRIES):
            handle = self._factory.spawn(self._suspect_nodes())
            try:
                actor = _Actor(handle, await self._factory.start(handle))
            except Exception as exc:
                self._kill_quietly(handle)
                if attempt + 1 == COLD_START_TRIES:
                    raise
                log.warning("call_actor_start_failed", error=repr(exc))
                continue
            self._actors.append(actor)
            return actor
        raise AssertionError("unreachable")

    async def _warm_actor(self, call_sid: str, *, resuming: bool) -> _Actor | None:
        """A free slot for the call (the busiest actor with room, idle actors stay idle), or
        None. A resuming call's previous actor died, maybe with its whole node and the warm
        actors on it: actors on a node under suspicion are taken last, and for a resume (or
        from a suspect node) the actor must answer first; a dead one is let go."""
        while True:
            roomy = [a for a in self._actors if not a.retired and len(a.calls) < self._capacity]
            if not roomy:
                return None
            suspects = self._suspect_nodes()
            trusted = [a for a in roomy if a.address.node not in suspects]
            actor = max(trusted or roomy, key=lambda a: (len(a.calls), a.idle_since))
            actor.calls.add(call_sid)
            doubtful = resuming or actor.address.node in suspects
            if not doubtful or await self._factory.alive(actor.handle):
                return actor
            log.warning("call_actor_unresponsive", call_sid=call_sid, port=actor.address.port)
            actor.calls.discard(call_sid)
            actor.retired = True
            if not actor.calls:
                self._remove(actor)

    def _suspect_nodes(self) -> frozenset[str]:
        now = time.monotonic()
        for node in [n for n, until in self._suspects.items() if until <= now]:
            del self._suspects[node]
        return frozenset(self._suspects)

    def _suspect(self, node: str) -> None:
        """A call's actor on `node` was lost, maybe with the node (Ray notices a dead node only
        after its health checks fail): claims and new actors go to other nodes first, so a
        resume does not wait on a dead actor's silence, until an actor there answers."""
        if node and node not in self._suspect_nodes():
            self._suspects[node] = time.monotonic() + SUSPECT_HOLD_S
            self._track(self._check_node(node))

    async def _check_node(self, node: str) -> None:
        """Ask every actor with room on a suspect node, at once; the silent ones are let go,
        and one answer clears the node."""
        there = [
            a
            for a in self._actors
            if a.address.node == node and not a.retired and len(a.calls) < self._capacity
        ]
        answers = await asyncio.gather(*(self._factory.alive(a.handle) for a in there))
        for actor, alive in zip(there, answers, strict=True):
            if not alive:
                log.warning("call_actor_unresponsive", port=actor.address.port, node=node)
                actor.retired = True
                if not actor.calls:
                    self._remove(actor)
        if any(answers):
            self._suspects.pop(node, None)

    async def _prepare(self, actor: _Actor, setup: CallSetup) -> None:
        """A failed prepare leaves Twilio a dead stream: its `<Connect action>` then resumes the
        call on another actor (admin_api.webhooks)."""
        try:
            await self._factory.prepare(actor.handle, setup)
        except Exception as exc:
            log.error("call_prepare_failed", call_sid=setup.call_sid, error=repr(exc))
            entry = self._active.get(setup.call_sid)
            if entry is not None and entry[0] is actor:
                del self._active[setup.call_sid]
                self._tenant_of.pop(setup.call_sid, None)
            self._drop_call(actor, setup.call_sid)

    def _drop_call(self, actor: _Actor, call_sid: str) -> None:
        """The call is lost on this actor: kill the actor when it serves nothing else, else
        give it no more calls (its other calls go on)."""
        actor.calls.discard(call_sid)
        self._released.set()
        actor.retired = True
        if not actor.calls:
            self._remove(actor)

    def _remove(self, actor: _Actor) -> None:
        if actor in self._actors:
            self._actors.remove(actor)
        self._kill_quietly(actor.handle)
        self._kick_refill()

    def _track(self, coro: Any) -> None:
        self._tasks.spawn(coro)

    async def calls_live(self, reports: Sequence[CallReport]) -> None:
        """Live calls' measurements so far, from their actor every few seconds; a report of
        a call that is over by now is left to its `call_ended`."""
        for report in reports:
            if report.call_sid in self._active:
                self._reported.add(report, self._counted.get(report.call_sid))
                self._counted[report.call_sid] = report

    async def call_ended(self, report: CallReport, handle: Any = None) -> None:
        self._reported.add(report, self._counted.pop(report.call_sid, None))
        entry = self._active.get(report.call_sid)
        if entry is not None and (handle is None or entry[0].handle == handle):
            del self._active[report.call_sid]
            self._tenant_of.pop(report.call_sid, None)
            self._track(self._recycle(entry[0], report.call_sid))
            return
        # Not the call's current actor: one the call left when it resumed elsewhere (its new
        # actor stays active), or one this pool did not start (it restarted meanwhile).
        left = next((a for a in self._actors if handle is not None and a.handle == handle), None)
        if left is not None:
            self._track(self._recycle(left, report.call_sid))
        elif handle is not None:
            self._track(self._adopt(handle, report.call_sid))

    async def _recycle(self, actor: _Actor, call_sid: str) -> None:
        """The call's slot is free again when the actor is ready for another call; an actor that
        retires is killed once its last call is over (after its own call_ended returned)."""
        try:
            ready = await self._factory.recycle(actor.handle, call_sid)
        except Exception as exc:
            log.warning("call_actor_recycle_failed", error=repr(exc))
            ready = False
        actor.calls.discard(call_sid)
        self._released.set()
        if not actor.calls:
            actor.idle_since = time.monotonic()
        if not ready:
            actor.retired = True
        if actor.retired:
            if not actor.calls:
                await asyncio.sleep(0.5)
                self._remove(actor)
            return
        self._recycled += 1
        self._warmed.set()
        if self._free() > self._target and self._trim_task is None:
            self._trim_task = asyncio.get_running_loop().create_task(self._trim())

    async def _adopt(self, handle: Any, call_sid: str) -> None:
        address: MediaAddress | None = None
        try:
            if await self._factory.recycle(handle, call_sid):
                address = await self._factory.start(handle)
        except Exception as exc:
            log.warning("call_actor_adopt_failed", error=repr(exc))
        if address is not None:
            self._actors.append(_Actor(handle, address))
        else:
            await asyncio.sleep(0.5)
            self._kill_quietly(handle)

    def _idle_surplus(self) -> _Actor | None:
        """The longest-idle actor whose slots the warm target does not need, if any."""
        if self._free() - self._capacity < self._target:
            return None
        idle = [a for a in self._actors if not a.calls and not a.retired]
        return min(idle, key=lambda a: a.idle_since) if idle else None

    async def _trim(self) -> None:
        """Let idle actors beyond the warm target go, the longest idle first, slowly."""
        try:
            while self._idle_surplus() is not None:
                await asyncio.sleep(self._config.pool_idle_trim_s)
                surplus = self._idle_surplus()
                if surplus is not None:
                    self._actors.remove(surplus)
                    self._kill_quietly(surplus.handle)
        finally:
            self._trim_task = None

    def _kill_quietly(self, handle: Any) -> None:
        with contextlib.suppress(Exception):
            self._factory.kill(handle)

    async def drain(self, bound_s: float, *, admit: bool = False) -> dict[str, int]:
        """Let the actors serving calls now go, gracefully: they take no new call, their live
        calls may finish on their own for up to `bound_s`, then the rest are ended (each
        records its outcome, `engine_shutdown`, and queues its post-call work) and the actors
        are let go. With `admit` new calls go on to new actors (a rolling replacement of the
        call actors); without it the pool takes no call any more (engine stop: the webhook
        answers new callers politely). Returns how many calls were live, finished on their
        own, and were ended at the bound."""
        if not admit:
            self._draining = True
        old = list(self._actors)
        for actor in old:
            actor.retired = True
        live = sum(len(actor.calls) for actor in old)
        self._kick_refill()
        deadline = time.monotonic() + bound_s
        while any(actor.calls for actor in old) and time.monotonic() < deadline:
            self._released.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), deadline - time.monotonic())
        busy = [actor for actor in old if actor.calls]
        ended = sum(len(actor.calls) for actor in busy)
        if busy:
            log.warning("calls_ended_at_drain_bound", calls=ended, bound_s=bound_s)
            await asyncio.gather(*(self._end_calls(actor) for actor in busy))
        for actor in old:
            if not actor.calls and actor in self._actors:
                self._remove(actor)
        log.info("call_actors_drained", actors=len(old), live=live, ended=ended)
        return {"live": live, "finished": live - ended, "ended": ended}

    async def _end_calls(self, actor: _Actor) -> None:
        try:
            await self._factory.shutdown(actor.handle, END_CALLS_TIMEOUT_S)
        except Exception as exc:  # killed below: Twilio's <Connect action> finds no outcome
            log.error("call_actor_end_failed", error=repr(exc))

    async def stats(self) -> dict[str, Any]:
        """Counts and histograms for /metrics and the operator."""
        return {
            "warm": self._free(),
            "actors": len(self._actors),
            "warm_actors": sum(1 for a in self._actors if not a.calls and not a.retired),
            "starting": self._starting,
            "active": self._claimed(),
            "calls": len(self._active),
            "capacity": self._config.call_capacity,
            "refused_full": self._full_refusals,
            "target_warm": self._target,
            "claims": dict(self._claims),
            "recycled": self._recycled,
            "claim_ms": (self._claim_ms.bounds, list(self._claim_ms.counts), self._claim_ms.sum),
            **self._reported.stats(),
            "active_by_tenant": dict(
                Counter(self._tenant_of[s] for s in self._active if s in self._tenant_of)
            ),
            "tasks": len(asyncio.all_tasks()),  # the pool process's, for a soak to watch
        }

    async def active_calls(self) -> list[str]:
        return list(self._active)

    async def actor_for(self, call_sid: str) -> Any:
        """The actor serving a call (operators and tests), or None."""
        entry = self._active.get(call_sid)
        return entry[0].handle if entry is not None else None

    async def check_health(self) -> dict[str, object]:
        return {"warm": self._free(), "actors": len(self._actors), "active": self._claimed()}
