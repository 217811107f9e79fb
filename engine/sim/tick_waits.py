"""Conditions a simulated caller waits on, checked at the start of each 20 ms stream tick.

Shared by the scripted caller's voice (engine.sim.twilio_caller_voice) and the bench's load
callers (bench.caller_conversation). No I/O and no clock: the frame pump calls `wake` as it
opens a tick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class TickWaits:
    def __init__(self) -> None:
        self._waiting: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def wake(self) -> None:
        """Release the waits whose condition holds now."""
        for pred, fut in self._waiting:
            if not fut.done() and pred():
                fut.set_result(None)

    async def until(self, pred: Callable[[], bool], timeout: float) -> None:
        """Return at the first tick where `pred()` holds; TimeoutError after `timeout`."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (pred, fut)
        self._waiting.append(entry)
        try:
            async with asyncio.timeout(timeout):
                await fut
        finally:
            self._waiting.remove(entry)
