"""Event-loop lag probe for the load-side processes (I/O: timers of the running loop only).

A task sleeps `interval` again and again and records how late it woke up. When the load
generator or the simulator falls behind, frames are sent late or read late and that time would
be charged to the relay under test; the lag record lets a report show it separately.
"""

from __future__ import annotations

import asyncio
import time

from bench.records import LagRecord


async def probe(record: LagRecord, interval: float = 0.05) -> None:
    """Run until cancelled, appending (time, lag) to `record` every `interval` seconds."""
    mono = time.monotonic
    due = mono() + interval
    while True:
        await asyncio.sleep(max(0.0, due - mono()))
        now = mono()
        record.times.append(now)
        record.lags.append(max(0.0, now - due))
        due = max(due + interval, now)
