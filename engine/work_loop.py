"""A worker's loop: run one step of work again and again until cancelled. No I/O of its own;
the step does the work (a database claim, a delivery) and says how much it found (or whether).

While steps find work the next runs at once; when one finds none the loop waits `poll_s` or
until woken (new work was written here); a step that fails (the database is unreachable) is
tried again with the wait doubled up to `max_backoff_s`. Each wait is jittered by 20% so that
many workers do not retry in lockstep.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable


async def run_forever(
    step: Callable[[], Awaitable[int]],
    wake: asyncio.Event,
    *,
    poll_s: float,
    max_backoff_s: float,
    on_error: Callable[[Exception], None],
    wait: Callable[[asyncio.Event, float], Awaitable[None]] | None = None,
) -> None:
    """Run `step` (0 or False: it found no work) until cancelled; `on_error` hears each
    failure. `wait(wake, seconds)` is the pause between steps (a wake-up or the time out)."""
    pause = wait or _woken_or_timed_out
    delay = poll_s
    while True:
        wake.clear()
        try:
            found = await step()
            delay = poll_s
            if found:
                continue
        except Exception as exc:
            delay = min(delay * 2, max_backoff_s)
            on_error(exc)
        await pause(wake, delay * random.uniform(0.8, 1.2))


async def _woken_or_timed_out(wake: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), seconds)
