"""engine.ordered_runner: a socket callback's frames are handled one at a time, in order,
started inside the callback; one that waits holds the others behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from engine import ordered_runner
from engine.ordered_runner import OrderedRunner


class Handled:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.errors: list[BaseException] = []
        self.gate = asyncio.Event()
        self.paused = 0
        self.resumed = 0

    async def handle(self, frame: str, received_ns: int) -> None:
        if frame.startswith("wait"):
            self.log.append(f"{frame} waits")
            await self.gate.wait()
        if frame == "boom":
            raise ValueError("bad frame")
        self.log.append(frame)

    def runner(self) -> OrderedRunner[str]:
        return OrderedRunner(self.handle, self.errors.append, self.pause, self.resume)

    def pause(self) -> None:
        self.paused += 1

    def resume(self) -> None:
        self.resumed += 1


async def test_a_handler_that_does_not_wait_finishes_inside_the_callback() -> None:
    h = Handled()
    runner = h.runner()
    tasks = len(asyncio.all_tasks())
    runner.run("a", 1)
    runner.run("b", 2)
    assert h.log == ["a", "b"]  # no await between: done synchronously
    assert not runner.busy
    assert len(asyncio.all_tasks()) == tasks


async def test_frames_after_a_waiting_handler_queue_behind_it_in_order() -> None:
    h = Handled()
    runner = h.runner()
    for n, frame in enumerate(["wait-1", "b", "wait-2", "c"]):
        runner.run(frame, n)
    await asyncio.sleep(0)
    assert h.log == ["wait-1 waits"]
    assert runner.busy
    h.gate.set()
    await runner.wait_idle()
    assert h.log == ["wait-1 waits", "wait-1", "b", "wait-2 waits", "wait-2", "c"]
    assert not runner.busy
    runner.run("d", 5)  # idle again: run at once
    assert h.log[-1] == "d"


async def test_a_failing_handler_is_reported_and_the_next_frames_still_run() -> None:
    h = Handled()
    runner = h.runner()
    runner.run("boom", 1)
    runner.run("a", 2)
    runner.run("wait", 3)
    runner.run("boom", 4)
    runner.run("b", 5)
    h.gate.set()
    await runner.wait_idle()
    assert [str(e) for e in h.errors] == ["bad frame", "bad frame"]
    assert h.log == ["a", "wait waits", "wait", "b"]


async def test_reading_pauses_while_too_many_frames_wait_and_resumes_after() -> None:
    h = Handled()
    runner = h.runner()
    runner.run("wait", 0)
    for i in range(ordered_runner.HIGH_WATER + 10):
        runner.run(str(i), i)
    assert (h.paused, h.resumed) == (1, 0)
    h.gate.set()
    await runner.wait_idle()
    assert (h.paused, h.resumed) == (1, 1)
    assert h.log[-1] == str(ordered_runner.HIGH_WATER + 9)


async def test_cancel_stops_the_waiting_handler_and_drops_what_queued() -> None:
    h = Handled()
    runner = h.runner()
    runner.run("wait", 1)
    runner.run("a", 2)
    await asyncio.sleep(0)
    runner.cancel()
    await runner.wait_idle()
    assert h.log == ["wait waits"]
    assert not runner.busy


async def test_a_handler_may_handle_a_frame_itself_and_return_no_coroutine() -> None:
    h = Handled()
    log: list[str] = []

    def handle(frame: str, received_ns: int) -> Coroutine[Any, Any, None] | None:
        if frame.startswith("wait") or frame == "boom":
            return h.handle(frame, received_ns)
        log.append(frame)  # done here, in the callback
        return None

    runner = OrderedRunner(handle, h.errors.append)
    runner.run("a", 1)
    assert log == ["a"]
    assert not runner.busy
    runner.run("wait", 2)
    runner.run("b", 3)  # behind the waiting one, even though it needs no coroutine
    await asyncio.sleep(0)
    assert log == ["a"]
    h.gate.set()
    await runner.wait_idle()
    assert (log, h.log) == (["a", "b"], ["wait waits", "wait"])


async def test_drop_lets_the_waiting_handler_finish_and_drops_what_queued() -> None:
    h = Handled()
    runner = h.runner()
    runner.run("wait", 1)
    runner.run("a", 2)
    await asyncio.sleep(0)
    runner.drop()
    h.gate.set()
    await runner.wait_idle()
    assert h.log == ["wait waits", "wait"]
