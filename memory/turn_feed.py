"""A live call's new turns, as they are written: one LISTEN connection per watcher on the
`call_turns` channel (migration 0012's triggers notify once per call per turn batch, and when
the call ends). I/O: asyncpg.

The notification only says "this call has new turns"; the turns themselves are read again in
the tenant's transaction (row-level security as always), after the last sequence number the
watcher has. Nothing here touches the call actor or its audio path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

CHANNEL = "call_turns"
CONNECT_TIMEOUT_S = 10.0


@asynccontextmanager
async def turn_signals(
    database_url: str, tenant_id: str, call_sid: str
) -> AsyncIterator[asyncio.Queue[None]]:
    """A queue that gets an item whenever turns of this call are written (coalesced: one item
    stands for any number of batches)."""
    signals: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
    wanted = f"{tenant_id}:{call_sid}"

    def on_notify(_conn: Any, _pid: int, _channel: str, payload: object) -> None:
        if payload == wanted and signals.empty():
            signals.put_nowait(None)

    conn = await asyncpg.connect(database_url, timeout=CONNECT_TIMEOUT_S)
    try:
        await conn.add_listener(CHANNEL, on_notify)
        yield signals
    finally:
        await asyncio.wait_for(conn.close(), CONNECT_TIMEOUT_S)
