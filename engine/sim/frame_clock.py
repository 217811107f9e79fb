"""The 20 ms media frame schedule a simulated caller keeps: frame n is due at t0 + n * 20 ms,
whatever the lateness of frame n-1, so lateness never accumulates.

Shared by the scripted caller's stream (`engine.sim.twilio_media`) and the bench's load callers
(`bench.caller`). I/O: none; it only sleeps.
"""

from __future__ import annotations

import asyncio
import time

from engine.sim.twilio_stream_messages import FRAME_S


async def until_frame(t0: float, n: int) -> float:
    """Sleep until frame `n` of a stream that started at monotonic `t0` is due (not at all when
    it is late); returns the frame's time in the stream, n * 20 ms."""
    delay = t0 + n * FRAME_S - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    return n * FRAME_S
