"""One process's transcript writes, coalesced: every call's TurnWriter in a call actor process
hands its pending batch to the process's one TurnSender, and one tick later (TICK_S after the
first batch waiting) everything handed in goes out together as one `append_turn_batches`
request, which the Ray memory client sends as one Ray call per memory actor (actors.handles).
A call process of 50 calls so makes at most one request per tick instead of one per call.

A call's batch is what it has pending as the tick goes (turns added while it waits go too). Each
batch carries its own call's token and gets its own answer: a batch refused (its token,
its call) fails only its writer, whose turns stay pending and go again. A writer has at most one
batch waiting or in flight (its lock), so a call's batches reach the memory pool in order.
`now` sends at once whatever waits (a call's last flush before its report does not wait for a
tick). I/O: the memory client only; one ticking task per process while batches wait, and one
task per request in flight (tracked, so none is orphaned).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence

import structlog

from actors.ports import MemoryClient, TurnBatch
from memory.call_records import Turn

log = structlog.get_logger(__name__)

TICK_S = 0.5  # the crash window of a call's turns (actors.turn_writer)
SEND_TIMEOUT_S = 3.0


class TurnsNotStored(RuntimeError):
    """The memory pool did not take a call's batch (the reason is in the message)."""


# (token, call sid, the call's pending turns as they stand when the tick goes, its answer)
_Waiting = tuple[str, str, Callable[[], Sequence[Turn]], "asyncio.Future[int]"]


class TurnSender:
    def __init__(
        self, memory: MemoryClient, *, tick_s: float = TICK_S, timeout_s: float = SEND_TIMEOUT_S
    ) -> None:
        # weak: the process's registry below holds senders by their client, weakly
        self._memory = weakref.ref(memory)
        self._loop = asyncio.get_running_loop()
        self.tick_s = tick_s
        self.timeout_s = timeout_s
        self._waiting: list[_Waiting] = []
        self._due = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.requests = 0  # requests made so far (one per tick with something to send)

    async def send(
        self,
        token: str,
        call_sid: str,
        pending: Callable[[], Sequence[Turn]],
        *,
        now: bool = False,
    ) -> int:
        """Send one call's pending turns with the next tick (at once with `now`) and wait for
        their answer: how many were stored, the first ones `pending` gave. `pending` is read as
        the tick goes, so turns added while the call waits for it go too. TurnsNotStored (or
        the request's own error) when they were not stored."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        entry: _Waiting = (token, call_sid, pending, future)
        self._waiting.append(entry)
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick())
        if now:
            self._due.set()
        try:
            return await future
        except asyncio.CancelledError:
            if entry in self._waiting:  # not sent yet: it never will be
                self._waiting.remove(entry)
            raise

    def hurry(self) -> None:
        """Send what waits now rather than at the tick."""
        if self._waiting:
            self._due.set()

    async def _tick(self) -> None:
        try:
            while self._waiting:
                try:
                    async with asyncio.timeout(self.tick_s):
                        await self._due.wait()
                except TimeoutError:
                    pass
                self._due.clear()
                entries, self._waiting = self._waiting, []
                if entries:
                    task = asyncio.create_task(self._send(entries))
                    self._sending.add(task)
                    task.add_done_callback(self._sending.discard)
        finally:
            self._ticker = None

    async def _send(self, entries: list[_Waiting]) -> None:
        self.requests += 1
        batches = [TurnBatch(token, sid, tuple(pending())) for token, sid, pending, _ in entries]
        try:
            memory = self._memory()
            if memory is None:
                raise TurnsNotStored("the memory client is gone")
            async with asyncio.timeout(self.timeout_s):
                answers = await memory.append_turn_batches(batches)
            if len(answers) != len(entries):
                raise TurnsNotStored(f"{len(answers)} answers for {len(entries)} batches")
        except Exception as exc:
            log.warning("turn_batches_failed", batches=len(entries), error=repr(exc))
            answers = [repr(exc)] * len(entries)
        for (*_, future), batch, error in zip(entries, batches, answers, strict=True):
            if future.done():  # its writer stopped waiting
                continue
            if error is None:
                future.set_result(len(batch.turns))
            else:
                future.set_exception(TurnsNotStored(error))


# One sender per memory client: a call actor process has one client, shared by its calls.
_senders: weakref.WeakKeyDictionary[MemoryClient, TurnSender] = weakref.WeakKeyDictionary()


def shared_sender(memory: MemoryClient) -> TurnSender:
    """The process's sender over `memory` (in the running event loop), made on first use."""
    sender = _senders.get(memory)
    if sender is None or sender._loop is not asyncio.get_running_loop():
        sender = _senders[memory] = TurnSender(memory)
    return sender
