"""CallPool: the named actor `call_pool` that keeps K call slots warm.

Starting a Ray actor costs hundreds of milliseconds; a caller must never wait for it. The pool
starts call actors ahead of time (each binds its media port on start) so that at least K call
slots are free (an actor has `calls_per_actor` slots), hands a slot out on
claim, and starts replacements in the background. A claim answers with the media URL (known from
the actor's port) as soon as it has sent `prepare`, without waiting for the reply: the actor
holds Twilio's handshake until the call is handed over. Claims fill the busiest actor that has
room (actors/pool_actors.py), so idle actors stay idle and can be let go.

Admission protects the calls on the line (actors/node_admission.py): a claim the node cannot
take (its call slots, free memory or CPU) is refused with `NodeFull` (the tenant actor answers
with the tenant's overflow); refills never start actors for slots a full node would not use.

With actors on several nodes it keeps warm cover (actors/node_cover.py): free slots elsewhere
for each node's calls, so that a lost node's calls resume without a cold actor start.

When a call ends its slot is recycled (a new session for the next call), unless the actor
retires; a retired actor is killed once its last call is over. After a burst more than K slots
are free; idle actors beyond that (and the cover) are let go slowly, one per `pool_idle_trim_s`.
While calls are live, refills pause between starts (`pool_refill_pause_s`): an actor start
costs about a CPU-second, live audio must not lose it.

State it owns: its call actors (handle, port, calls, retired or not), the active calls (CallSid
-> actor, tenant), the reports' sums (/metrics, report_totals.py): live calls every few seconds
(`calls_live`, one Ray call per actor, never per frame), each call's last at its end.

Idempotent methods: `claim` for a CallSid already claimed returns the same media URL;
`call_ended`; `calls_live`; `room`; `drain` (stop, rolling replacement); `stats`; `check_health`.

When it dies: Ray restarts it with an empty pool that refills at once. Call actors are detached,
so live calls go on; when one ends it reports to the new pool, which adopts (or kills) its actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import structlog

from actors import node_cover, pool_actors, pool_drain
from actors.node_admission import NodeAdmission
from actors.pool_actors import PoolActor
from actors.ports import CallActorFactory, CallReport, CallSetup, NodeFull
from actors.report_totals import ReportTotals
from actors.suspect_nodes import SuspectNodes, silent
from engine.config import EngineConfig, MediaAddress
from engine.histogram import Histogram
from engine.logs import configure_actor
from engine.task_set import TaskSet

log = structlog.get_logger(__name__)

CLAIM_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000)
COLD_START_TRIES = 2


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
        self._actors: list[PoolActor] = []  # oldest first
        self._tasks = TaskSet("call_pool", log)
        self._recycled = 0
        self._trim_task: asyncio.Task[None] | None = None
        self._starting = 0
        self._active: dict[str, tuple[PoolActor, str, int]] = {}  # call -> (actor, url, attempt)
        self._tenant_of: dict[str, tuple[str, str]] = {}  # active call -> (tenant id, name)
        self._refill_task: asyncio.Task[None] | None = None
        self._warmed = asyncio.Event()
        self._reported = ReportTotals()
        self._claims = {"warm": 0, "cold": 0}
        self._claim_ms = Histogram.with_bounds(CLAIM_BUCKETS_MS)
        self._draining = False
        self._released = asyncio.Event()  # set whenever a call's slot is given back
        self._suspects = SuspectNodes()  # nodes that lost a call's actor
        self._admission = NodeAdmission(config, self._tasks)
        self._cover = node_cover.Cover()  # warm slots elsewhere for each node's calls

    def __repr__(self) -> str:
        return f"CallPool(free slots={self._free()}, live={self._claimed()})"

    def _free(self) -> int:
        return pool_actors.free_slots(self._actors, self._capacity)

    def _claimed(self) -> int:
        return pool_actors.claimed(self._actors)

    def _wanted_free(self) -> int:
        return self._admission.wanted_free(self._target, self._claimed())

    def _kick_refill(self) -> None:
        if self._refill_task is None or self._refill_task.done():
            self._refill_task = asyncio.get_running_loop().create_task(self._refill())

    def _gap(self) -> str | None:  # a node whose calls need warm slots elsewhere
        return self._cover.gap(self._actors, self._capacity, self._suspects.now())

    def _short(self) -> bool:
        short = self._free() + self._starting * self._capacity < self._wanted_free()
        fits = self._admission.fits(len(self._actors) + self._starting)
        return not self._draining and (short or self._gap() is not None) and fits

    async def _refill(self) -> None:
        while self._short():
            if self._claimed() and self._config.pool_refill_pause_s > 0:
                await asyncio.sleep(self._config.pool_refill_pause_s)
                if not self._short():
                    return  # a finished call's slot came back meanwhile
            self._starting += 1
            gap = self._gap()
            try:
                handle = self._factory.spawn(node_cover.away(self._suspects.now(), gap))
                address = await self._factory.start(handle)
                self._actors.append(PoolActor(handle, address))
                self._cover.started(gap, address.node)
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
        if self._draining:  # as a full node: the tenant actor overflows the caller
            raise NodeFull("the engine is draining: no new calls")
        if known is not None:  # the call resumes: its previous actor is gone or going
            self._suspect(known[0].address.node)
            self._drop_call(known[0], setup.call_sid)
        self._admission.turn_away(setup.call_sid, self._admission.refusal(self._claimed()))
        began = time.perf_counter()
        actor = await self._warm_actor(setup.call_sid, resuming=known is not None)
        kind = "warm"
        if actor is None:
            unplaced = self._admission.unplaced(len(self._actors) + self._starting)
            self._admission.turn_away(setup.call_sid, unplaced)
            actor = await self._cold_actor()
            actor.calls.add(setup.call_sid)
            kind = "cold"
        self._kick_refill()
        url = self._config.media_url(actor.address, setup.call_sid)
        self._active[setup.call_sid] = (actor, url, setup.attempt)
        self._tenant_of[setup.call_sid] = (setup.tenant.tenant_id, setup.tenant.name)
        self._tasks.spawn(self._prepare(actor, setup))
        elapsed = (time.perf_counter() - began) * 1000
        self._claims[kind] += 1
        self._claim_ms.observe(elapsed)
        log.info("call_claimed", call_sid=setup.call_sid, kind=kind, claim_ms=round(elapsed, 2))
        return url

    async def room(self) -> int:
        """How many more calls the node admits now (a tenant's queued callers wait for it)."""
        return 0 if self._draining else self._admission.room(self._claimed())

    async def _cold_actor(self) -> PoolActor:
        """A new actor, started now, away from suspect nodes. Ray may still place it on a node
        that just died unknown to it (its start then fails): one more try goes elsewhere."""
        for attempt in range(COLD_START_TRIES):
            handle = self._factory.spawn(self._suspects.now())
            try:
                actor = PoolActor(handle, await self._factory.start(handle))
            except Exception as exc:
                self._kill_quietly(handle)
                if attempt + 1 == COLD_START_TRIES:
                    raise
                log.warning("call_actor_start_failed", error=repr(exc))
                continue
            self._actors.append(actor)
            return actor
        raise AssertionError("unreachable")

    async def _warm_actor(self, call_sid: str, *, resuming: bool) -> PoolActor | None:
        """A free slot (the busiest actor with room), or None. A resuming call's actor died,
        maybe with its node and the warm actors there: suspect nodes' actors are taken last,
        and for a resume (or on a suspect node) the actor must answer first, else goes."""
        while True:
            suspects = self._suspects.now()
            actor = pool_actors.busiest_with_room(self._actors, self._capacity, suspects)
            if actor is None:
                return None
            actor.calls.add(call_sid)
            doubtful = resuming or actor.address.node in suspects
            if not doubtful or await self._factory.alive(actor.handle):
                return actor
            log.warning("call_actor_unresponsive", call_sid=call_sid, port=actor.address.port)
            actor.calls.discard(call_sid)
            self._retire(actor)

    def _suspect(self, node: str) -> None:
        """A call's actor on `node` was lost, maybe with the node (actors/suspect_nodes.py):
        claims and new actors go elsewhere first until an actor there answers."""
        if self._suspects.add(node):
            self._tasks.spawn(self._check_node(node))

    async def _check_node(self, node: str) -> None:
        """Ask every actor with room on a suspect node at once; the silent ones go, one answer
        clears the node."""
        there = pool_actors.with_room(self._actors, self._capacity, node)
        gone, answered = await silent(there, lambda a: self._factory.alive(a.handle))
        for actor in gone:
            log.warning("call_actor_unresponsive", port=actor.address.port, node=node)
            self._retire(actor)
        if answered:
            self._suspects.clear(node)

    async def _prepare(self, actor: PoolActor, setup: CallSetup) -> None:
        """A failed prepare leaves a dead stream: Twilio's `<Connect action>` resumes the call."""
        try:
            await self._factory.prepare(actor.handle, setup)
        except Exception as exc:
            log.error("call_prepare_failed", call_sid=setup.call_sid, error=repr(exc))
            entry = self._active.get(setup.call_sid)
            if entry is not None and entry[0] is actor:
                del self._active[setup.call_sid]
                self._tenant_of.pop(setup.call_sid, None)
            self._drop_call(actor, setup.call_sid)

    def _drop_call(self, actor: PoolActor, call_sid: str) -> None:
        """The call is lost on this actor: kill the actor when it serves nothing else, else
        give it no more calls (its other calls go on)."""
        actor.calls.discard(call_sid)
        self._released.set()
        self._retire(actor)

    def _retire(self, actor: PoolActor) -> None:
        """Give the actor no more calls; let it go now if it serves none."""
        actor.retired = True
        self._kick_refill()  # its replacement may start beside it (node_capacity.ray_call_slots)
        if not actor.calls:
            self._remove(actor)

    def _remove(self, actor: PoolActor) -> None:
        if actor in self._actors:
            self._actors.remove(actor)
        self._kill_quietly(actor.handle)
        self._kick_refill()

    async def calls_live(self, reports: Sequence[CallReport]) -> None:
        """Live calls' measurements so far, from their actor every few seconds; a report of
        a call that is over by now is left to its `call_ended`."""
        for report in reports:
            if report.call_sid in self._active:
                self._reported.live(report)

    async def call_ended(self, report: CallReport, handle: Any = None) -> None:
        self._reported.ended(report)
        entry = self._active.get(report.call_sid)
        if entry is not None and (handle is None or entry[0].handle == handle):
            del self._active[report.call_sid]
            self._tenant_of.pop(report.call_sid, None)
            self._tasks.spawn(self._recycle(entry[0], report.call_sid))
            return
        # Not the call's current actor: one the call left when it resumed elsewhere (its new
        # actor stays active), or one this pool did not start (it restarted meanwhile).
        left = next((a for a in self._actors if handle is not None and a.handle == handle), None)
        if left is not None:
            self._tasks.spawn(self._recycle(left, report.call_sid))
        elif handle is not None:
            self._tasks.spawn(self._adopt(handle, report.call_sid))

    async def _recycle(self, actor: PoolActor, call_sid: str) -> None:
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
        if not ready or actor.retired:
            actor.retired = True
            self._kick_refill()  # its replacement may start beside it
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
            self._actors.append(PoolActor(handle, address))
        else:
            await asyncio.sleep(0.5)
            self._kill_quietly(handle)

    def _idle_surplus(self) -> PoolActor | None:
        suspects = self._suspects.now()
        return node_cover.idle_surplus(self._actors, self._capacity, self._target, suspects)

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
        """Let today's actors go gracefully: no new call, live calls may finish for up to
        `bound_s`, then the rest are ended (outcome `engine_shutdown`, post-call work queued).
        With `admit` new calls go to new actors (a rolling replacement); without it the pool
        takes no call any more (engine stop: the webhook answers new callers politely).
        Returns how many calls were live, finished on their own, and ended at the bound."""
        if not admit:
            self._draining = True
        old = list(self._actors)
        for actor in old:
            self._retire(actor)  # an idle one goes now: its slots are for the new actors
        live = pool_actors.claimed(old)
        self._kick_refill()
        await pool_drain.wait_for_calls(old, self._released, bound_s)
        ended = await pool_drain.end_calls(self._factory, old, bound_s)
        for actor in old:
            if not actor.calls and actor in self._actors:
                self._remove(actor)
        log.info("call_actors_drained", actors=len(old), live=live, ended=ended)
        return {"live": live, "finished": live - ended, "ended": ended}

    async def stats(self) -> dict[str, Any]:
        """Counts and histograms for /metrics and the operator."""
        return {
            "warm": self._free(),
            "actors": len(self._actors),
            "warm_actors": len(pool_actors.warm(self._actors)),
            "starting": self._starting,
            "active": self._claimed(),
            "calls": len(self._active),
            "capacity": self._config.call_capacity,
            "refused_full": self._admission.refusals,
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
