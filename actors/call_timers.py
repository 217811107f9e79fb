"""A call's clocks, as events for its state machine: the watchdog for a stream Twilio never
connects, and the tick once a second while the call is live (silence, the time limit) after
which the session may rotate the model session. No I/O but the session's callbacks.

The tick comes on whole seconds of the event loop's clock, so the calls an actor serves all tick
in one pass of its loop: one wake-up a second for the process instead of one per call at its own
phase. A timer that wakes an otherwise idle loop costs 40-60 CPU-us; 25 aligned ones cost about
8 us each (uvloop, measured with `time.process_time`). A call's first tick comes up to a second
sooner than a second after it went live; every timing decision measures from the state's own
timestamps, so only when it is checked moves, by less than a tick.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from actors.call_finish import STREAM_CONNECT_TIMEOUT_S
from actors.call_sockets import ModelChannel
from engine.call_events import CallEvent, NoStream, Tick
from engine.call_state import CallState
from engine.session_rules import should_rotate

TICK_S = 1.0

Apply = Callable[[CallEvent], Awaitable[None]]


async def stream_watchdog(apply: Apply) -> None:
    """`NoStream` once Twilio has had STREAM_CONNECT_TIMEOUT_S to connect (the state machine
    ignores it when the stream came)."""
    await asyncio.sleep(STREAM_CONNECT_TIMEOUT_S)
    await apply(NoStream())


async def tick(state: Callable[[], CallState], apply: Apply, after: Callable[[], None]) -> None:
    """`Tick` every TICK_S while the call is live, then `after()`; returns once it has ended.
    The ticks fall on whole multiples of TICK_S of the loop's clock (see above)."""
    loop = asyncio.get_running_loop()
    due = loop.time() // TICK_S * TICK_S  # the last whole tick
    while state().phase != "ended":
        now = loop.time()
        due += TICK_S
        if due <= now:  # a tick ran past the next one: the first still to come
            due = (now // TICK_S + 1) * TICK_S
        await asyncio.sleep(due - now)
        if state().phase != "live":
            continue
        await apply(Tick())
        after()


def rotate_when_due(state: CallState, model: ModelChannel, max_s: float) -> None:
    """Replace the model session once it has run its length, at a quiet moment
    (engine.session_rules.should_rotate)."""
    now = time.monotonic()
    if should_rotate(
        state, link_ready=model.ready, opened_at=model.opened_at, now=now, max_s=max_s
    ):
        model.rotate()
