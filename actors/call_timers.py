"""A call's clocks, as events for its state machine: the watchdog for a stream Twilio never
connects, and the tick once a second while the call is live (silence, the time limit) after
which the session may rotate the model session. No I/O but the session's callbacks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from actors.call_finish import STREAM_CONNECT_TIMEOUT_S
from engine.call_events import CallEvent, NoStream, Tick
from engine.call_state import CallState

TICK_S = 1.0

Apply = Callable[[CallEvent], Awaitable[None]]


async def stream_watchdog(apply: Apply) -> None:
    """`NoStream` once Twilio has had STREAM_CONNECT_TIMEOUT_S to connect (the state machine
    ignores it when the stream came)."""
    await asyncio.sleep(STREAM_CONNECT_TIMEOUT_S)
    await apply(NoStream())


async def tick(state: Callable[[], CallState], apply: Apply, after: Callable[[], None]) -> None:
    """`Tick` every TICK_S while the call is live, then `after()`; returns once it has ended."""
    while state().phase != "ended":
        await asyncio.sleep(TICK_S)
        if state().phase != "live":
            continue
        await apply(Tick())
        after()
