"""CallPool with a fake factory (the real one starts Ray actors): claims answer without waiting
for prepare, a failed prepare forgets the call, finished calls recycle their actor into the warm
set, retired actors are killed and replaced."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from dataclasses import dataclass, field

import pytest

from actors.call_pool import CallPool
from actors.ports import CallReport, CallSetup, NodeFull
from engine.config import EngineConfig, MediaAddress, TenantConfig

CONFIG = EngineConfig(
    app_database_url="postgresql://nowhere/none",
    jwt_secret="s" * 40,
    warm_calls=2,
    media_public_url="ws://media.test:{port}/stream/{call_sid}",
    pool_refill_pause_s=0.0,
    pool_idle_trim_s=0.3,
)
TENANT = TenantConfig(tenant_id="t-1", name="Agency")


@dataclass(eq=False)
class FakeActor:
    port: int
    prepared: list[str] = field(default_factory=list)
    dead: bool = False
    node: str = ""


@dataclass
class FakeFactory:
    release: asyncio.Event = field(default_factory=asyncio.Event)
    fail_prepare: bool = False
    ready_after_call: bool = True
    failed_starts: int = 0  # this many starts fail first (placed on a node that just died)
    spawned: list[FakeActor] = field(default_factory=list)
    killed: list[FakeActor] = field(default_factory=list)
    ports: itertools.count[int] = field(default_factory=lambda: itertools.count(20000))
    nodes: list[str] = field(default_factory=list)  # where the next actors start, in order
    silence_s: float = 0.0  # how long a dead actor's health check takes to fail
    asked: list[FakeActor] = field(default_factory=list)

    def spawn(self, avoid: frozenset[str] = frozenset()) -> FakeActor:
        nodes = [n for n in self.nodes if n not in avoid] or self.nodes
        node = nodes[0] if nodes else ""
        if node:
            self.nodes.remove(node)
        actor = FakeActor(next(self.ports), node=node)
        self.spawned.append(actor)
        return actor

    async def start(self, handle: FakeActor) -> MediaAddress:
        if self.failed_starts:
            self.failed_starts -= 1
            raise RuntimeError("actor died: its node is gone")
        return MediaAddress("127.0.0.1", handle.port, handle.node)

    async def prepare(self, handle: FakeActor, setup: CallSetup) -> str:
        await self.release.wait()
        if self.fail_prepare:
            raise RuntimeError("actor died")
        handle.prepared.append(setup.call_sid)
        return CONFIG.media_url(MediaAddress("127.0.0.1", handle.port), setup.call_sid)

    async def recycle(self, handle: FakeActor, call_sid: str) -> bool:
        return self.ready_after_call

    async def alive(self, handle: FakeActor) -> bool:
        self.asked.append(handle)
        if handle.dead and self.silence_s:
            await asyncio.sleep(self.silence_s)
        return not handle.dead

    def kill(self, handle: FakeActor) -> None:
        self.killed.append(handle)

    async def shutdown(self, handle: FakeActor, timeout: float) -> str | None:
        """Nothing to end here (tests/unit/test_call_pool_drain.py has actors that do)."""
        return None


def _setup(call_sid: str, attempt: int = 0) -> CallSetup:
    return CallSetup(call_sid, TENANT, "+15550100", "+15550199", "media", "memory", 1.0, attempt)


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_claim_answers_with_the_url_before_prepare_returns() -> None:
    factory = FakeFactory()
    pool = CallPool(CONFIG, factory)
    assert await pool.warm_up(1.0) == 2
    url = await asyncio.wait_for(pool.claim(_setup("CA1")), 1.0)  # prepare is still blocked
    actor = await pool.actor_for("CA1")
    assert url == f"ws://media.test:{actor.port}/stream/CA1"
    assert actor.prepared == []
    factory.release.set()
    await _settle()
    assert actor.prepared == ["CA1"]
    assert await pool.claim(_setup("CA1")) == url  # idempotent for the same attempt


async def test_a_failed_prepare_forgets_the_call_and_kills_its_actor() -> None:
    factory = FakeFactory(fail_prepare=True)
    factory.release.set()
    pool = CallPool(CONFIG, factory)
    await pool.warm_up(1.0)
    await pool.claim(_setup("CA2"))
    actor = await pool.actor_for("CA2")
    await _settle()
    assert await pool.actor_for("CA2") is None
    assert factory.killed == [actor]


async def test_a_finished_call_returns_its_actor_and_the_excess_is_let_go_slowly() -> None:
    factory = FakeFactory()
    factory.release.set()
    pool = CallPool(CONFIG, factory)
    await pool.warm_up(1.0)
    await pool.claim(_setup("CA3"))
    actor = await pool.actor_for("CA3")
    await _settle()  # the refill has replaced the claimed actor: 2 warm again
    await pool.call_ended(CallReport("CA3", "t-1", "caller_hung_up"), actor)
    await _settle()
    stats = await pool.stats()
    assert (stats["active"], stats["warm"], stats["recycled"]) == (0, 3, 1)
    assert factory.killed == []
    await pool.claim(_setup("CA4"))
    assert await pool.actor_for("CA4") is actor  # the recycled actor is used first
    await pool.call_ended(CallReport("CA4", "t-1", "caller_hung_up"), actor)
    await asyncio.sleep(0.5)  # one trim period: the longest idle actor above the target goes
    assert (await pool.stats())["warm"] == 2
    assert len(factory.killed) == 1
    assert actor not in factory.killed


async def test_refills_pause_between_starts_while_calls_are_live() -> None:
    factory = FakeFactory()
    factory.release.set()
    paced = CallPool(dataclasses.replace(CONFIG, pool_refill_pause_s=0.3), factory)
    await paced.warm_up(1.0)
    await paced.claim(_setup("CA7"))
    await paced.claim(_setup("CA8"))
    await asyncio.sleep(0.1)
    assert (await paced.stats())["warm"] == 0  # nothing started yet: calls are live
    await asyncio.sleep(0.75)
    assert (await paced.stats())["warm"] == 2


async def test_a_retiring_actor_is_killed_and_replaced() -> None:
    factory = FakeFactory(ready_after_call=False)
    factory.release.set()
    pool = CallPool(CONFIG, factory)
    await pool.warm_up(1.0)
    await pool.claim(_setup("CA6"))
    actor = await pool.actor_for("CA6")
    await pool.call_ended(CallReport("CA6", "t-1", "caller_hung_up"), actor)
    await asyncio.sleep(0.6)  # the kill waits for the actor's own call_ended to return
    assert actor in factory.killed
    assert (await pool.stats())["warm"] == 2


async def test_an_actor_with_several_slots_takes_calls_until_full() -> None:
    factory = FakeFactory()
    factory.release.set()
    pool = CallPool(dataclasses.replace(CONFIG, calls_per_actor=3, warm_calls=3), factory)
    assert await pool.warm_up(1.0) == 3
    assert len(factory.spawned) == 1  # one actor, three slots
    for sid in ("CB1", "CB2", "CB3"):
        await pool.claim(_setup(sid))
    first = await pool.actor_for("CB1")
    assert await pool.actor_for("CB3") is first
    await _settle()  # the refill has started a second actor for the next calls
    stats = await pool.stats()
    assert (stats["actors"], stats["warm"]) == (2, 3)
    await pool.claim(_setup("CB4"))
    assert await pool.actor_for("CB4") is not first
    await _settle()  # 2 slots free: below the target, a third actor starts
    assert (await pool.stats())["warm"] == 5
    await pool.call_ended(CallReport("CB2", "t-1", "caller_hung_up"), first)
    await _settle()
    assert (await pool.stats())["warm"] == 6  # one slot back on the first actor
    await pool.claim(_setup("CB5"))
    assert await pool.actor_for("CB5") is first  # the busiest actor with room is filled first


async def _resumed_off_a_shared_actor(
    first: str, second: str
) -> tuple[FakeFactory, CallPool, FakeActor]:
    """Two calls on one actor (two calls per actor), then `first` resumes on another; returns
    the factory, the pool and the actor both calls started on."""
    factory = FakeFactory()
    factory.release.set()
    pool = CallPool(dataclasses.replace(CONFIG, calls_per_actor=2, warm_calls=2), factory)
    await pool.warm_up(1.0)
    await pool.claim(_setup(first))
    await pool.claim(_setup(second))
    shared = await pool.actor_for(first)
    await pool.claim(_setup(first, attempt=1))
    return factory, pool, shared


async def test_a_lost_call_on_a_shared_actor_retires_it_without_killing_the_others() -> None:
    factory, pool, shared = await _resumed_off_a_shared_actor("CC1", "CC2")
    assert await pool.actor_for("CC1") is not shared  # CC1 resumed elsewhere
    assert shared not in factory.killed  # CC2 still runs there
    await pool.call_ended(CallReport("CC2", "t-1", "caller_hung_up"), shared)
    await asyncio.sleep(0.6)
    assert shared in factory.killed  # retired, and its last call is over


async def test_a_report_from_the_actor_a_call_left_does_not_end_it_where_it_resumed() -> None:
    _factory, pool, old = await _resumed_off_a_shared_actor("CD1", "CD2")
    new = await pool.actor_for("CD1")
    await pool.call_ended(CallReport("CD1", "t-1", "caller_hung_up"), old)  # a late report
    await _settle()
    assert await pool.actor_for("CD1") is new  # still live where it resumed
    assert "CD1" in await pool.active_calls()


async def test_a_resumed_call_skips_warm_actors_that_died_with_its_node() -> None:
    factory = FakeFactory()
    factory.release.set()
    pool = CallPool(dataclasses.replace(CONFIG, warm_calls=3), factory)
    await pool.warm_up(1.0)
    await pool.claim(_setup("CN1"))
    lost = await pool.actor_for("CN1")
    warm = [a for a in factory.spawned if a is not lost]
    for actor in [lost, *warm[:2]]:  # the call's node is gone, and two warm actors with it
        actor.dead = True
    url = await pool.claim(_setup("CN1", attempt=1))
    resumed = await pool.actor_for("CN1")
    assert resumed is not None
    assert not resumed.dead
    assert url == f"ws://media.test:{resumed.port}/stream/CN1"
    assert set(warm[:2]) <= set(factory.killed)  # let go, not handed out again
    await pool.claim(_setup("CN2"))  # a new call gets no dead actor either
    assert not (await pool.actor_for("CN2")).dead


async def test_a_cold_start_on_a_dead_node_is_tried_once_more() -> None:
    factory = FakeFactory(failed_starts=1)
    factory.release.set()
    pool = CallPool(dataclasses.replace(CONFIG, warm_calls=0), factory)
    url = await pool.claim(_setup("CN3"))
    first, second = factory.spawned
    assert factory.killed == [first]
    assert url == f"ws://media.test:{second.port}/stream/CN3"


async def test_a_resume_goes_to_another_node_without_waiting_on_the_lost_nodes_actors() -> None:
    nodes = ["node-b", "node-a", "node-b", "node-b", *["node-b", "node-a"] * 4]
    factory = FakeFactory(nodes=nodes, silence_s=0.5)
    factory.release.set()
    pool = CallPool(dataclasses.replace(CONFIG, warm_calls=3), factory)
    await pool.warm_up(1.0)
    await pool.claim(_setup("CN4"))
    await _settle()  # refilled: the newest warm actor is on node-b too
    lost = await pool.actor_for("CN4")
    assert lost.node == "node-b"
    for actor in factory.spawned:  # node-b is gone, Ray does not know it yet
        actor.dead = actor.node == "node-b"
    before = len(factory.spawned)
    # a dead actor's silence costs 0.5 s: the resume must not wait on one
    await asyncio.wait_for(pool.claim(_setup("CN4", attempt=1)), 0.2)
    resumed = await pool.actor_for("CN4")
    assert (resumed.node, resumed.dead) == ("node-a", False)
    await asyncio.sleep(0.7)  # node-b's warm actors were asked meanwhile, and let go
    gone = {a for a in factory.spawned if a.node == "node-b"}
    assert gone <= set(factory.killed)
    refills = factory.spawned[before:]  # Ray does not know node-b is gone: no start there
    assert refills
    assert {a.node for a in refills} == {"node-a"}
    await pool.claim(_setup("CN5"))  # a new call gets no dead actor either
    assert not (await pool.actor_for("CN5")).dead


async def test_a_full_node_refuses_new_calls_and_keeps_the_live_ones() -> None:
    factory = FakeFactory()
    factory.release.set()
    config = dataclasses.replace(CONFIG, warm_calls=4, call_capacity=3)
    pool = CallPool(config, factory)
    assert await pool.warm_up(5.0) == 3  # not the 4 wanted: the node has 3 call slots
    assert await pool.room() == 3
    for sid in ("CF1", "CF2", "CF3"):
        await pool.claim(_setup(sid))
    assert await pool.room() == 0  # a tenant's queued callers wait
    with pytest.raises(NodeFull, match="all 3 call slots live"):
        await pool.claim(_setup("CF4"))
    await _settle()
    stats = await pool.stats()
    assert (stats["active"], stats["refused_full"]) == (3, 1)  # asking for room is no refusal
    assert stats["warm"] == 0  # no actor started for calls the node would refuse
    assert len(factory.spawned) == 3
    assert await pool.claim(_setup("CF1")) == await pool.claim(_setup("CF1"))  # no new claim
    await pool.call_ended(CallReport("CF2", "t-1", "caller_hung_up"), await pool.actor_for("CF2"))
    await _settle()
    assert await pool.room() == 1
    await pool.claim(_setup("CF5"))  # a slot came back
    assert (await pool.stats())["active"] == 3


async def test_a_retiring_actors_replacement_starts_beside_it() -> None:
    """Ray books an actor's call slots until it exits, and the node gives Ray one actor's slots
    beyond its capacity: on a node of 4 calls with actors of 2, a retired actor finishing its
    last call leaves room for its replacement at once, so the node keeps admitting up to its
    capacity meanwhile (before, half such a node overflowed until that last call ended)."""
    factory = FakeFactory()
    factory.release.set()
    config = dataclasses.replace(CONFIG, calls_per_actor=2, warm_calls=4, call_capacity=4)
    pool = CallPool(config, factory)
    assert await pool.warm_up(5.0) == 4
    for sid in ("CR1", "CR2", "CR3"):
        await pool.claim(_setup(sid))
    retiring = await pool.actor_for("CR1")
    assert await pool.actor_for("CR2") is retiring  # claims fill the busiest actor first
    factory.ready_after_call = False  # its call_actor_max_calls reached
    await pool.call_ended(CallReport("CR1", "t-1", "caller_hung_up"), retiring)
    await _settle()
    factory.ready_after_call = True
    assert len(factory.spawned) == 3  # the replacement, beside the retiring actor
    assert retiring not in factory.killed  # CR2 goes on
    for sid in ("CR4", "CR5"):
        await pool.claim(_setup(sid))
    assert {await pool.actor_for(s) for s in ("CR4", "CR5")} - {retiring}
    with pytest.raises(NodeFull, match="all 4 call slots live"):
        await pool.claim(_setup("CR6"))  # admission still stops at the node's capacity
    await pool.call_ended(CallReport("CR2", "t-1", "caller_hung_up"), retiring)
    await asyncio.sleep(0.6)
    assert retiring in factory.killed


async def test_warm_actors_are_counted_without_the_ones_calls_hold() -> None:
    factory = FakeFactory()
    factory.release.set()
    pool = CallPool(dataclasses.replace(CONFIG, calls_per_actor=2, warm_calls=4), factory)
    await pool.warm_up(5.0)
    await pool.claim(_setup("CG1"))
    await _settle()
    stats = await pool.stats()
    # the claimed actor still has a free slot, but it is not a warm actor any more
    assert (stats["warm"], stats["actors"], stats["warm_actors"]) == (5, 3, 2)
    assert (stats["active"], stats["calls"]) == (1, 1)


async def test_each_nodes_calls_keep_warm_slots_on_another_node() -> None:
    """With the warm target alone (1) a call on node-b would have no warm slot on node-a: its
    resume, when node-b dies, would wait for a cold actor start."""
    factory = FakeFactory(nodes=["node-a", "node-b", "node-b", "node-b", *["node-a"] * 6])
    factory.release.set()
    pool = CallPool(dataclasses.replace(CONFIG, warm_calls=1), factory)
    await pool.warm_up(1.0)
    await pool.claim(_setup("CV1"))
    await _settle()
    await pool.claim(_setup("CV2"))
    await _settle()
    first, second = await pool.actor_for("CV1"), await pool.actor_for("CV2")
    assert (first.node, second.node) == ("node-a", "node-b")
    live = {first, second}
    free = [a for a in factory.spawned if a not in live and a not in factory.killed]
    assert sorted(a.node for a in free) == ["node-a", "node-b"]  # one warm for each node's call
    for actor in factory.spawned:  # node-b is gone
        actor.dead = actor.node == "node-b"
    await pool.claim(_setup("CV2", attempt=1))
    resumed = await pool.actor_for("CV2")
    assert (resumed.node, resumed.dead) == ("node-a", False)
    assert (await pool.stats())["claims"] == {"warm": 3, "cold": 0}


async def test_no_cover_is_started_while_every_actor_is_on_one_node() -> None:
    factory = FakeFactory(nodes=["node-a"] * 10)
    factory.release.set()
    pool = CallPool(dataclasses.replace(CONFIG, warm_calls=1), factory)
    await pool.warm_up(1.0)
    for sid in ("CW1", "CW2", "CW3"):
        await pool.claim(_setup(sid))
        await _settle()
    assert len(factory.spawned) == 4  # the three calls' actors and one warm


async def test_cover_that_can_only_land_on_the_covered_node_is_not_retried_at_once() -> None:
    factory = FakeFactory(nodes=["node-a", "node-b", *["node-a"] * 8])
    factory.release.set()
    pool = CallPool(dataclasses.replace(CONFIG, warm_calls=1), factory)
    await pool.warm_up(1.0)
    await pool.claim(_setup("CX1"))  # on node-a; its refill lands on node-b
    await _settle()
    await pool.claim(_setup("CX2"))  # on node-b; node-a's call needs cover, only node-a has room
    await _settle()
    assert [a.node for a in factory.spawned] == ["node-a", "node-b", "node-a"]


async def test_on_one_node_the_excess_is_let_go_while_calls_are_live() -> None:
    factory = FakeFactory(nodes=["node-a"] * 10)
    factory.release.set()
    pool = CallPool(CONFIG, factory)
    await pool.warm_up(1.0)
    await pool.claim(_setup("CY1"))
    await pool.claim(_setup("CY2"))
    await _settle()  # 2 warm again besides the two calls
    actor = await pool.actor_for("CY1")
    await pool.call_ended(CallReport("CY1", "t-1", "caller_hung_up"), actor)
    await asyncio.sleep(0.5)  # one trim period, CY2 still live: the idle actor above target goes
    stats = await pool.stats()
    assert (stats["active"], stats["warm"]) == (1, 2)
    assert len(factory.killed) == 1
