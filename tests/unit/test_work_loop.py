"""A worker's loop (engine.work_loop): at once again while there is work, a poll or a wake-up
when there is none, backoff that doubles on failures and resets once a step succeeds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from engine import work_loop


class Worker:
    """A step that follows a script: a number is work found, an exception a failure."""

    def __init__(self, *script: int | Exception) -> None:
        self.script = list(script)
        self.ran: list[float] = []
        self.errors: list[str] = []
        self.done = asyncio.Event()

    async def step(self) -> int:
        self.ran.append(time.monotonic())
        if not self.script:
            self.done.set()
            return 0
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.ran, self.ran[1:], strict=False)]


async def run(
    worker: Worker,
    wake: asyncio.Event,
    poll_s: float,
    max_s: float = 10.0,
    wait: Callable[[asyncio.Event, float], Awaitable[None]] | None = None,
) -> None:
    loop = asyncio.get_running_loop().create_task(
        work_loop.run_forever(
            worker.step,
            wake,
            poll_s=poll_s,
            max_backoff_s=max_s,
            on_error=lambda exc: worker.errors.append(str(exc)),
            wait=wait,
        )
    )
    try:
        await asyncio.wait_for(worker.done.wait(), 5)
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


async def test_work_found_runs_the_next_step_at_once_none_found_waits_for_a_wake_up() -> None:
    worker = Worker(3, 1, 0)
    wake = asyncio.Event()
    asyncio.get_running_loop().call_later(0.2, wake.set)
    began = time.monotonic()
    await run(worker, wake, poll_s=60.0)
    assert len(worker.ran) == 4
    assert worker.gaps()[:2] == pytest.approx([0, 0], abs=0.05)  # work found: again at once
    assert 0.15 < worker.ran[3] - began < 1.0  # none found: woken, not the 60 s poll


async def test_failures_back_off_doubling_up_to_the_bound_and_a_success_resets_it() -> None:
    down = ConnectionError("database went away")
    worker = Worker(down, down, down, down, 0, 0)
    pauses: list[float] = []

    async def pause(wake: asyncio.Event, seconds: float) -> None:
        pauses.append(seconds)  # the loop's chosen wait, free of the scheduler's delays
        await asyncio.sleep(0)

    await run(worker, asyncio.Event(), poll_s=0.05, max_s=0.3, wait=pause)
    assert worker.errors == ["database went away"] * 4
    # 0.1, 0.2, 0.3 (the bound), 0.3, then the poll again after a success; each jittered 20%
    for chosen, want in zip(pauses[:6], (0.1, 0.2, 0.3, 0.3, 0.05, 0.05), strict=True):
        assert want * 0.8 <= chosen <= want * 1.2, (pauses, want)
