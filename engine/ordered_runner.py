"""Runs an async handler for each frame a socket callback delivers, one at a time and in arrival
order, started inside the callback: a handler that finishes without waiting (an audio frame
relayed to the other socket) costs no task, future or queue hop, and one that returns None
instead of a coroutine (it handled the frame itself, in the callback) costs no coroutine either.
One that does wait (a tool call, a Ray call) goes on in a single task, and the frames arriving
meanwhile queue behind it (reading is paused past HIGH_WATER of them, resumed once they are
done), so handlers never overlap and never reorder. Uses only the running event loop, no other
I/O.
"""

from __future__ import annotations

import asyncio
import types
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Handler = Callable[[T, int], Coroutine[Any, Any, None] | None]

HIGH_WATER = 64  # frames queued behind a handler that waits before reading is paused


@types.coroutine
def _resume(coro: Coroutine[Any, Any, None], waiting: Any) -> Generator[Any, Any, None]:
    """Go on with `coro`, which handed `waiting` (what it awaits) to its first runner: the
    task running this passes every wake-up and exception through, as `await coro` would."""
    while True:
        try:
            sent = yield waiting
        except BaseException as exc:  # cancellation included: the handler sees it
            try:
                waiting = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                waiting = coro.send(sent)
            except StopIteration:
                return


class OrderedRunner(Generic[T]):
    def __init__(
        self,
        handler: Handler[T],
        on_error: Callable[[BaseException], None],
        pause: Callable[[], None] = lambda: None,
        resume: Callable[[], None] = lambda: None,
    ) -> None:
        """`handler(frame, received_ns)` is run per frame (it returns a coroutine to run, or None
        when it handled the frame itself); `on_error` hears what one raised (the frames after it
        still run); `pause`/`resume` stop and restart the socket's reading while too many frames
        wait."""
        self._handler = handler
        self._on_error = on_error
        self._pause = pause
        self._resume_reading = resume
        self._queue: deque[tuple[T, int]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._paused = False
        self._idle: asyncio.Future[None] | None = None

    @property
    def busy(self) -> bool:
        """A handler is waiting (frames may be queued behind it)."""
        return self._task is not None

    def run(self, frame: T, received_ns: int) -> None:
        if self._task is not None:
            self._queue.append((frame, received_ns))
            if not self._paused and len(self._queue) >= HIGH_WATER:
                self._paused = True
                self._pause()
            return
        try:
            coro = self._handler(frame, received_ns)
            if coro is None:
                return
            waiting = coro.send(None)
        except StopIteration:
            return
        except Exception as exc:
            self._on_error(exc)
            return
        self._task = asyncio.get_running_loop().create_task(self._finish(coro, waiting))

    async def _finish(self, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        try:
            try:
                await _resume(coro, waiting)
            except Exception as exc:
                self._on_error(exc)
            queue = self._queue
            while queue:
                frame, received_ns = queue.popleft()
                try:
                    pending = self._handler(frame, received_ns)
                    if pending is not None:
                        await pending
                except Exception as exc:
                    self._on_error(exc)
        finally:
            self._task = None
            self._queue.clear()  # only when cancelled: the socket's owner is done with it
            if self._paused:
                self._paused = False
                self._resume_reading()
            idle, self._idle = self._idle, None
            if idle is not None and not idle.done():
                idle.set_result(None)

    async def wait_idle(self) -> None:
        """Until every frame delivered so far has been handled."""
        if self._task is None:
            return
        if self._idle is None:
            self._idle = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._idle)

    def drop(self) -> None:
        """Drop the frames queued behind the waiting handler (their socket is closing); the
        handler itself goes on."""
        self._queue.clear()

    def cancel(self) -> None:
        """Stop the waiting handler and drop the frames behind it (the owner is closing)."""
        if self._task is not None:
            self._task.cancel()
