"""A tracked set of background tasks: one per actor or session, so no task is an orphan.

`spawn` starts a task and keeps it until it finishes (`spawn_once` only when no task runs under
the same key: one flight per piece of work); a task that fails is logged with its name and
exception (a control loop's failure is never silent), and `on_done` is told when any task ends
(a bounded pool refills its freed slot); `wait` lets them finish, bounded; `wait_first` waits for
the next to end; `close` cancels whatever is still running and waits for it, bounded. Uses only
the running event loop, no other I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import structlog

T = TypeVar("T")

log = structlog.get_logger(__name__)


class TaskSet:
    def __init__(
        self,
        name: str,
        log_: structlog.typing.FilteringBoundLogger = log,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        """`name` goes into the failure log's event: `<name>_task_failed`; `on_done` is called
        after each task ends (finished, failed or cancelled), once it has left the set."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._keyed: dict[str, asyncio.Task[Any]] = {}
        self._failed_event = f"{name}_task_failed"
        self._on_done = on_done
        self.log = log_

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, T], name: str | None = None) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def spawn_once(self, key: str, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Start `coro` as the task for `key`, unless one still runs for it: then `coro` is
        closed unstarted and the running task is returned (it does the same work)."""
        running: asyncio.Task[T] | None = self._keyed.get(key)
        if running is not None:
            coro.close()
            return running
        task = self.spawn(coro, name=key)
        self._keyed[key] = task
        return task

    def running(self, key: str) -> bool:
        """Whether a task started by `spawn_once(key, ...)` still runs."""
        return key in self._keyed

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        key = task.get_name()
        if self._keyed.get(key) is task:
            del self._keyed[key]
        if not task.cancelled() and task.exception() is not None:
            self.log.error(self._failed_event, task=key, error=repr(task.exception()))
        if self._on_done is not None:
            self._on_done()

    async def wait(self, timeout: float) -> int:
        """Wait up to `timeout` for the running tasks to finish, cancelling none; returns how
        many are still running."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        return sum(1 for t in self._tasks if not t.done())

    async def wait_first(self) -> None:
        """Wait until one of the running tasks ends (at once when none runs)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), return_when=asyncio.FIRST_COMPLETED)

    def cancel(self) -> list[asyncio.Task[Any]]:
        """Cancel every running task except the caller's own; returns the cancelled ones."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current and not t.done()]
        for task in tasks:
            task.cancel()
        return tasks

    async def close(self, timeout: float = 2.0) -> bool:
        """Cancel what is still running and wait for it; False when something would not stop
        within `timeout`."""
        tasks = self.cancel()
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return not pending
