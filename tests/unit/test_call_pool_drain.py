"""Draining the call pool (engine stop, a rolling replacement of call actors): no new calls
when it stops admitting, live calls finish on their own up to the bound, the rest are ended
with their outcome, and the drained actors are let go."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field

import pytest

from actors.call_pool import CallPool
from actors.ports import CallReport, NodeFull
from engine.config import EngineConfig
from tests.unit.test_call_pool import CONFIG, FakeActor, FakeFactory, _settle, _setup


@dataclass
class EndingFactory(FakeFactory):
    """A factory whose actors end their calls when told to, reporting the outcome back."""

    pool: CallPool | None = None
    ended: list[str] = field(default_factory=list)
    calls: dict[str, FakeActor] = field(default_factory=dict)

    async def shutdown(self, handle: FakeActor, timeout: float) -> str | None:
        assert self.pool is not None
        for sid in [s for s, actor in self.calls.items() if actor is handle]:
            self.ended.append(sid)
            del self.calls[sid]
            await self.pool.call_ended(CallReport(sid, "t-1", "engine_shutdown"), handle)
        return "engine_shutdown"


async def _pool_with_calls(
    *sids: str, config: EngineConfig = CONFIG
) -> tuple[CallPool, EndingFactory]:
    factory = EndingFactory()
    factory.release.set()
    pool = CallPool(config, factory)
    factory.pool = pool
    await pool.warm_up(1.0)
    for sid in sids:
        await pool.claim(_setup(sid))
        factory.calls[sid] = await pool.actor_for(sid)
    await _settle()
    return pool, factory


async def test_drain_stops_admitting_and_ends_calls_left_at_the_bound() -> None:
    pool, factory = await _pool_with_calls("CA1", "CA2")
    draining = asyncio.create_task(pool.drain(0.5))
    await _settle()
    # refused as a full node is: the tenant's overflow takes the caller (fallback number,
    # Twilio's queue or a message), not an error
    with pytest.raises(NodeFull, match="draining"):
        await pool.claim(_setup("CA3"))
    # CA1 hangs up on its own inside the bound; CA2 is still talking at the bound
    actor1 = factory.calls.pop("CA1")
    await pool.call_ended(CallReport("CA1", "t-1", "caller_hung_up"), actor1)
    began = time.monotonic()
    result = await draining
    assert 0.3 < time.monotonic() - began < 2.0
    assert result == {"live": 2, "finished": 1, "ended": 1}
    assert factory.ended == ["CA2"]
    stats = await pool.stats()
    assert stats["outcomes"] == {"caller_hung_up": 1, "engine_shutdown": 1}
    await asyncio.sleep(0.7)  # retired actors are let go once their calls are over
    assert (await pool.stats())["actors"] == 0
    assert set(factory.spawned) <= set(factory.killed)


async def test_drain_returns_at_once_when_calls_finish_early() -> None:
    pool, factory = await _pool_with_calls("CA1")
    draining = asyncio.create_task(pool.drain(30.0))
    await _settle()
    actor = factory.calls.pop("CA1")
    began = time.monotonic()
    await pool.call_ended(CallReport("CA1", "t-1", "caller_hung_up"), actor)
    assert await asyncio.wait_for(draining, 2.0) == {"live": 1, "finished": 1, "ended": 0}
    assert time.monotonic() - began < 1.0
    assert factory.ended == []


async def test_rolling_drain_moves_new_calls_to_new_actors() -> None:
    pool, factory = await _pool_with_calls("CA1")
    old = set(factory.spawned)
    draining = asyncio.create_task(pool.drain(0.3, admit=True))
    await _settle()
    await pool.claim(_setup("CA2"))  # still admitting, on an actor started after the drain
    assert await pool.actor_for("CA2") not in old
    assert await draining == {"live": 1, "finished": 0, "ended": 1}
    assert factory.ended == ["CA1"]
    await asyncio.sleep(0.7)
    assert old <= set(factory.killed)
    assert await pool.actor_for("CA2") not in factory.killed


async def test_a_rolling_drain_on_a_node_of_few_slots_lets_idle_actors_go_at_once() -> None:
    """Ray books a drained actor's slots until it exits: the idle ones go at once, so the
    actors that take the new calls fit the node beside those still finishing theirs."""
    config = dataclasses.replace(CONFIG, call_capacity=2)  # 2 actors of one call
    pool, factory = await _pool_with_calls("CA1", config=config)
    old = set(factory.spawned)
    draining = asyncio.create_task(pool.drain(0.3, admit=True))
    await _settle()
    await pool.claim(_setup("CA2"))  # on a new actor, in the idle one's slot
    assert await pool.actor_for("CA2") not in old
    assert len(old & set(factory.killed)) == 1  # the idle one, before the drain's bound
    assert await draining == {"live": 1, "finished": 0, "ended": 1}
