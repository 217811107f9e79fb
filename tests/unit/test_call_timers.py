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
