"""/calls/{call_sid}/live: a call's transcript as it grows, as server-sent events.

First every turn so far, then each new turn as the call actor's turn batches land in Postgres
(memory.turn_feed listens for migration 0012's notification; the call actor does nothing
extra), then `event: end` once the call has ended. A comment line every 15 s keeps proxies
from closing a quiet stream. Events: `turn` with `{seq, role, text, at, meta}`, and `end`.
The console reads it with fetch (it sends the bearer token; EventSource cannot).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import StreamingResponse

from admin_api.auth import TenantUser
from admin_api.schemas.common import ERRORS, CallSid
from admin_api.webhooks import Ctx
from memory import calls
from memory.turn_feed import turn_signals

router = APIRouter(responses=ERRORS, prefix="/calls", tags=["calls"])

KEEPALIVE_S = 15.0


@router.get("/{call_sid}/live", response_class=StreamingResponse)
async def live_transcript(
    call_sid: Annotated[CallSid, Path()], member: TenantUser, ctx: Ctx
) -> StreamingResponse:
    pool = await ctx.db()
    tenant_id = member.tenant_id
    if await calls.get_call(pool, tenant_id, call_sid) is None:
        raise HTTPException(404, "no such call")

    async def events() -> AsyncIterator[str]:
        last = -1
        async with turn_signals(ctx.config.app_database_url, tenant_id, call_sid) as signals:
            while True:
                for turn in await calls.load_turns(pool, tenant_id, call_sid):
                    if turn.seq > last:
                        last = turn.seq
                        data = {
                            "seq": turn.seq,
                            "role": turn.role,
                            "text": turn.text,
                            "at": turn.at.isoformat(),
                            "meta": dict(turn.meta),
                        }
                        yield f"event: turn\ndata: {json.dumps(data)}\n\n"
                record = await calls.get_call(pool, tenant_id, call_sid)
                if record is None or record.ended_at is not None:
                    yield "event: end\ndata: {}\n\n"
                    return
                try:
                    await asyncio.wait_for(signals.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keepalive\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"x-accel-buffering": "no"}
    )
