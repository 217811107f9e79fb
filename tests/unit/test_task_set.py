"""A tracked task set: tasks kept until done, failures logged, closed by cancelling and waiting."""

from __future__ import annotations

import asyncio
import inspect

import structlog
from structlog.testing import capture_logs

from engine.task_set import TaskSet


async def test_a_finished_task_is_forgotten_and_a_failed_one_logged() -> None:
    tasks = TaskSet("call", structlog.get_logger("test"))

    async def fail() -> None:
        raise ValueError("boom")

    with capture_logs() as logs:
        done = tasks.spawn(asyncio.sleep(0))
        failed = tasks.spawn(fail())
        assert len(tasks) == 2
        await asyncio.wait({done, failed})
        await asyncio.sleep(0)
    assert len(tasks) == 0
    assert [e["event"] for e in logs] == ["call_task_failed"]
    assert "boom" in logs[0]["error"]


async def test_close_cancels_what_runs_and_waits_for_it() -> None:
    tasks = TaskSet("link")
    stopped: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.append("stopped")

    tasks.spawn(forever())
    await asyncio.sleep(0)
    assert await tasks.close(timeout=1.0)
    assert stopped == ["stopped"]
    assert len(tasks) == 0


async def test_close_says_when_a_task_would_not_stop() -> None:
    tasks = TaskSet("stubborn")
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    task = tasks.spawn(stubborn())
    await asyncio.sleep(0)
    assert not await tasks.close(timeout=0.05)
    release.set()
    await task


async def test_cancel_spares_the_task_that_asks() -> None:
    tasks = TaskSet("call")
    other = tasks.spawn(asyncio.Event().wait())

    async def finisher() -> bool:
        tasks.cancel()
        await asyncio.sleep(0)
        return True

    me = tasks.spawn(finisher())
    assert await me
    await asyncio.sleep(0)
    assert other.cancelled()


async def test_wait_lets_tasks_finish_and_counts_those_still_running() -> None:
    tasks = TaskSet("callers")
    release = asyncio.Event()
    quick = tasks.spawn(asyncio.sleep(0.01))
    slow = tasks.spawn(release.wait())
    assert await tasks.wait(0.1) == 1
    assert quick.done()
    assert not slow.cancelled()
    release.set()
    assert await tasks.wait(1.0) == 0


async def test_on_done_is_told_after_each_task_leaves_the_set() -> None:
    seen: list[int] = []
    tasks = TaskSet("slots", on_done=lambda: seen.append(len(tasks)))

    async def fail() -> None:
        raise ValueError("boom")

    release = asyncio.Event()
    quick = tasks.spawn(asyncio.sleep(0))
    failed = tasks.spawn(fail())
    held = tasks.spawn(release.wait())
    with capture_logs():
        await asyncio.wait({quick, failed})
        await asyncio.sleep(0)
    assert seen == [2, 1]
    assert await tasks.close(timeout=1.0)
    assert held.cancelled()
    assert seen == [2, 1, 0]


async def test_wait_first_returns_when_one_task_ends() -> None:
    tasks = TaskSet("slots")
    await tasks.wait_first()  # nothing runs: at once
    release = asyncio.Event()
    quick = tasks.spawn(asyncio.sleep(0.01))
    slow = tasks.spawn(release.wait())
    await asyncio.wait_for(tasks.wait_first(), timeout=1.0)
    assert quick.done()
    assert not slow.done()
    release.set()
    await tasks.wait(1.0)


async def test_spawn_once_runs_one_task_per_key_until_it_ends() -> None:
    tasks = TaskSet("recording", structlog.get_logger("test"))
    release = asyncio.Event()
    started: list[str] = []

    async def work(label: str) -> str:
        started.append(label)
        await release.wait()
        return label

    first = tasks.spawn_once("RE1", work("first"))
    duplicate = work("duplicate")
    again = tasks.spawn_once("RE1", duplicate)
    other = tasks.spawn_once("RE2", work("other"))
    assert again is first  # the running task does the work
    assert inspect.getcoroutinestate(duplicate) == inspect.CORO_CLOSED  # never started
    assert tasks.running("RE1")
    assert tasks.running("RE2")
    assert len(tasks) == 2

    release.set()
    assert await first == "first"
    assert await other == "other"
    await asyncio.sleep(0)
    assert not tasks.running("RE1")
    assert started == ["first", "other"]

    later = tasks.spawn_once("RE1", work("later"))  # the key is free again once its task ended
    assert later is not first
    assert await later == "later"


async def test_a_failed_keyed_task_is_logged_with_its_key_and_frees_it() -> None:
    tasks = TaskSet("recording", structlog.get_logger("test"))

    async def fail() -> None:
        raise OSError("disk full")

    with capture_logs() as logs:
        task = tasks.spawn_once("RE9", fail())
        await asyncio.wait({task})
        await asyncio.sleep(0)
    assert [(e["event"], e["task"]) for e in logs] == [("recording_task_failed", "RE9")]
    assert not tasks.running("RE9")
