"""Waits released at the first tick where their condition holds, or timed out."""

from __future__ import annotations

import asyncio

import pytest

from engine.sim.tick_waits import TickWaits


async def test_a_wait_ends_at_the_first_tick_its_condition_holds() -> None:
    waits = TickWaits()
    state = {"heard": False}
    waiting = asyncio.create_task(waits.until(lambda: state["heard"], timeout=5))
    await asyncio.sleep(0)
    waits.wake()  # a tick where the condition does not hold yet
    await asyncio.sleep(0)
    assert not waiting.done()
    state["heard"] = True  # between ticks: nothing happens until the next one
    await asyncio.sleep(0)
    assert not waiting.done()
    waits.wake()
    await asyncio.wait_for(waiting, 1)


async def test_a_wait_that_never_holds_times_out() -> None:
    waits = TickWaits()
    with pytest.raises(TimeoutError):
        await waits.until(lambda: False, timeout=0.01)
