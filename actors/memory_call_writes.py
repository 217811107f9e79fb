"""The memory actor's call-path writes (a base of actors.memory_actor.MemoryActor): the call
row, the stream, turn batches - one call's, or many calls' at once from a call actor process's
turn sender - the end-of-call report and the post-call job. Each goes through memory.call_writes,
which spools it to local disk while Postgres is down and replays it in order.

Every method takes the call's memory token and writes only for the tenant it proves; all are
idempotent (turns keyed by seq, upserts, one job per call). I/O: through the memory package,
imported where used (Ray imports this module in every process holding a memory actor handle).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from actors.memory_loops import MemoryLoops
from actors.verified_tokens import VerifiedTokens

if TYPE_CHECKING:
    import asyncpg

    from actors.ports import TurnBatch
    from memory.call_records import CallEnd, CallStart, Turn
    from memory.call_writes import CallWrites
    from memory.service import MemoryService


class CallPathWrites:
    _tokens: VerifiedTokens
    _loops: MemoryLoops

    async def _db(self) -> asyncpg.Pool:
        raise NotImplementedError

    async def _memory(self) -> MemoryService:
        raise NotImplementedError

    def _tenant(self, token: str) -> str:
        return self._tokens.tenant(token)

    def _call_writes(self) -> CallWrites:
        """The call path's writes, spooled to disk while Postgres is down (memory.call_writes);
        made, with the loop draining the spool, on first use."""
        return self._loops.call_writes(self._db, self._enqueue_post_call)

    async def start_call(self, token: str, call: CallStart) -> None:
        tenant = self._tenant(token)
        await self._call_writes().start(tenant, call)
        self._loops.outbox_wake.set()

    async def stream_connected(self, token: str, call_sid: str, stream_sid: str) -> None:
        from memory import calls

        tenant = self._tenant(token)
        pool = await self._db()
        if await calls.record_event(pool, tenant, call_sid, "stream", stream_sid, {}):
            await calls.stream_connected(pool, tenant, call_sid)

    async def append_turns(self, token: str, call_sid: str, turns: Sequence[Turn]) -> None:
        tenant = self._tenant(token)
        await self._call_writes().turns(tenant, call_sid, turns)

    async def append_turn_batches(self, batches: Sequence[TurnBatch]) -> list[str | None]:
        """Many calls' turn batches (a call actor process's tick), each under its own call's
        token, written in one statement (memory.turn_batches); per batch None when stored or
        spooled, else why not. A refused token or batch fails only its own call."""
        from memory.turn_batches import CallTurns

        answers: list[str | None] = [None] * len(batches)
        taken: list[int] = []
        writes: list[CallTurns] = []
        for i, batch in enumerate(batches):
            try:
                tenant = self._tenant(batch.token)
            except Exception as exc:
                answers[i] = repr(exc)
                continue
            taken.append(i)
            writes.append(CallTurns(tenant, batch.call_sid, batch.turns))
        failures = await self._call_writes().turn_batches(writes)
        for i, failure in zip(taken, failures, strict=True):
            answers[i] = None if failure is None else repr(failure)
        return answers

    async def finish_call(self, token: str, call_sid: str, end: CallEnd) -> None:
        tenant = self._tenant(token)
        await self._call_writes().finish(tenant, call_sid, end)
        self._loops.outbox_wake.set()

    async def enqueue_post_call(self, token: str, call_sid: str, caller_number: str) -> None:
        """Queue the call's post-call job (once per call) and wake the drain loop."""
        tenant = self._tenant(token)
        await self._call_writes().post_call(tenant, call_sid, caller_number)

    async def _enqueue_post_call(self, tenant: str, call_sid: str, caller_number: str) -> None:
        await (await self._memory()).jobs.enqueue(tenant, call_sid, caller_number)
        self._loops.post_call_wake.set()
