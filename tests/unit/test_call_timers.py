"""A call's clocks (actors.call_timers): ticks only while the call is live, stop once it has
ended; the stream watchdog fires once its time is up."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from actors import call_finish, call_timers
from engine.call_events import CallEvent, NoStream, Tick
from engine.call_state import CallState, new_call


async def test_ticks_come_only_while_live_and_stop_when_the_call_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(call_timers, "TICK_S", 0.01)
    state = new_call("CA1", "token")
    seen: list[CallEvent] = []
    after: list[int] = []

    async def apply(event: CallEvent) -> None:
        seen.append(event)

    def now() -> CallState:
        return state

    ticking = asyncio.get_running_loop().create_task(
        call_timers.tick(now, apply, lambda: after.append(1))
    )
    await asyncio.sleep(0.05)
    assert seen == []  # waiting for the stream: nothing to time
    state = dataclasses.replace(state, phase="live")
    await asyncio.sleep(0.05)
    assert seen
    assert all(isinstance(e, Tick) for e in seen)
    assert len(after) == len(seen)
    state = dataclasses.replace(state, phase="ended")
    await asyncio.wait_for(ticking, 1)


async def test_the_stream_watchdog_reports_no_stream_once_its_time_is_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(call_timers, "STREAM_CONNECT_TIMEOUT_S", 0.01)
    assert call_finish.STREAM_CONNECT_TIMEOUT_S == 30.0
    seen: list[CallEvent] = []

    async def apply(event: CallEvent) -> None:
        seen.append(event)

    await asyncio.wait_for(call_timers.stream_watchdog(apply), 1)
    assert seen == [NoStream()]


async def test_calls_started_apart_tick_together_on_whole_ticks_of_the_loop_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The calls of one actor tick in one pass of its loop (one wake-up, not one per call)."""
    period = 0.2
    monkeypatch.setattr(call_timers, "TICK_S", period)
    loop = asyncio.get_running_loop()
    state = dataclasses.replace(new_call("CA1", "token"), phase="live")
    ticks: dict[str, list[float]] = {"a": [], "b": []}
    third_of_b = asyncio.Event()

    def ticker(name: str) -> asyncio.Task[None]:
        async def apply(event: CallEvent) -> None:
            ticks[name].append(loop.time())
            if len(ticks["b"]) == 3:
                third_of_b.set()

        return loop.create_task(call_timers.tick(lambda: state, apply, lambda: None))

    await asyncio.sleep(period - loop.time() % period + period * 0.3)  # 0.3 ticks past one
    first = ticker("a")
    await asyncio.sleep(period * 0.4)
    second = ticker("b")
    await asyncio.wait_for(third_of_b.wait(), 10 * period)
    state = dataclasses.replace(state, phase="ended")
    await asyncio.wait_for(asyncio.gather(first, second), 1)
    # "a" came 0.4 ticks before "b", within the same tick: from then on they tick as one
    paired = list(zip(ticks["a"][-3:], ticks["b"][-3:], strict=True))
    assert all(abs(a - b) < period * 0.1 for a, b in paired), paired
    for at in ticks["b"]:
        phase = at % period
        assert min(phase, period - phase) < period * 0.25, (at, phase)
