"""A call's writes from the call path, made so that a database outage loses none of them.

Each write (call row, turn batch, end-of-call report, post-call job) goes to Postgres; when the
database is down, or anything of the same kind is already waiting, it goes to the write spool
(memory.write_spool) instead and the caller is answered as if it had been stored. `drain_forever`
replays the spool once the database answers. I/O: asyncpg through memory.calls and the service.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any

import asyncpg
import structlog

from memory import calls
from memory.call_records import CallEnd, CallStart, Turn
from memory.turn_batches import CallTurns, append_batches
from memory.write_spool import (
    Op,
    WriteSpool,
    database_down,
    decode_end,
    decode_start,
    decode_turn,
    encode_turn,
)

log = structlog.get_logger(__name__)

DRAIN_EVERY_S = 2.0
MAX_DRAIN_BACKOFF_S = 15.0

PostCall = Callable[[str, str, str], Awaitable[object]]  # (tenant, call_sid, caller) -> ...


class CallWrites:
    def __init__(
        self,
        spool: WriteSpool,
        pool: Callable[[], Awaitable[asyncpg.Pool]],
        post_call: PostCall,
        *,
        outbox_queue: str,
    ) -> None:
        self._spool = spool
        self._outbox_queue = outbox_queue
        self._pool = pool
        self._post_call = post_call
        self.wake = asyncio.Event()

    @property
    def pending(self) -> int:
        return self._spool.pending

    async def start(self, tenant_id: str, call: CallStart) -> None:
        await self._write("start", tenant_id, call.call_sid, asdict(call))

    async def turns(self, tenant_id: str, call_sid: str, turns: Sequence[Turn]) -> None:
        await self._write("turns", tenant_id, call_sid, [encode_turn(t) for t in turns])

    async def turn_batches(self, batches: Sequence[CallTurns]) -> list[Exception | None]:
        """Several calls' turn batches in one statement (memory.turn_batches); per batch None
        when stored or spooled, else why not (a batch the database refuses fails alone)."""
        spool = list(range(len(batches)))
        failures: list[Exception | None] = [None] * len(batches)
        if not await self._spool.load():
            try:
                failures = await append_batches(await self._pool(), batches)
            except Exception as exc:
                if not database_down(exc):
                    raise
                failures = [exc] * len(batches)
            spool = [i for i, f in enumerate(failures) if f is not None and database_down(f)]
            if spool:
                log.warning("call_write_spooled", op="turns", batches=len(spool))
        for i in spool:
            batch = batches[i]
            data = [encode_turn(t) for t in batch.turns]
            await self._spool.add("turns", batch.tenant_id, batch.call_sid, data)
            failures[i] = None
        if spool:
            self.wake.set()
        return failures

    async def finish(self, tenant_id: str, call_sid: str, end: CallEnd) -> None:
        await self._write("finish", tenant_id, call_sid, asdict(end))

    async def post_call(self, tenant_id: str, call_sid: str, caller_number: str) -> None:
        await self._write("post_call", tenant_id, call_sid, caller_number)

    async def _write(self, op: Op, tenant_id: str, call_sid: str, data: Any) -> None:
        line = {"op": op, "tenant_id": tenant_id, "call_sid": call_sid, "data": data}
        if not await self._spool.load():
            try:
                await self._apply(line)
                return
            except Exception as exc:
                if not database_down(exc):
                    raise
                log.warning("call_write_spooled", op=op, call_sid=call_sid, error=repr(exc))
        await self._spool.add(op, tenant_id, call_sid, data)
        self.wake.set()

    async def _apply(self, line: dict[str, Any]) -> None:
        op, tenant_id, call_sid, data = (
            line["op"],
            line["tenant_id"],
            line["call_sid"],
            line["data"],
        )
        if op == "post_call":
            await self._post_call(tenant_id, call_sid, data)
            return
        pool = await self._pool()
        if op == "start":
            await calls.start_call(
                pool, tenant_id, decode_start(data), outbox_queue=self._outbox_queue
            )
        elif op == "turns":
            await calls.append_turns(pool, tenant_id, call_sid, [decode_turn(t) for t in data])
        elif op == "finish":
            await calls.finish_call(
                pool, tenant_id, call_sid, decode_end(data), outbox_queue=self._outbox_queue
            )

    async def _replay(self, line: dict[str, Any]) -> None:
        """Apply one spooled write; one the database refuses (not one it could not take) is
        dropped with an error logged, so it cannot hold up every write behind it."""
        try:
            await self._apply(line)
        except Exception as exc:
            if database_down(exc):
                raise
            log.error(
                "call_write_dropped", op=line["op"], call_sid=line["call_sid"], error=repr(exc)
            )

    async def drain(self) -> int:
        """Replay what is spooled, in order, until the database fails again; how many went in."""
        done = await self._spool.drain(self._replay)
        if done:
            log.info("call_writes_drained", writes=done, left=self._spool.pending)
        return done

    async def drain_forever(self) -> None:
        delay = DRAIN_EVERY_S
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), delay)
            self.wake.clear()
            if not await self._spool.load():
                continue
            try:
                await self.drain()
                delay = DRAIN_EVERY_S
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # still down (or a line it cannot take): try again later
                delay = min(delay * 2, MAX_DRAIN_BACKOFF_S)
                log.warning("call_writes_drain_failed", left=self._spool.pending, error=repr(exc))
