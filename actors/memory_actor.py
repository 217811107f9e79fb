"""MemoryActor: one of N actors fronting Postgres for the call path.

State it owns: one asyncpg pool (app role) and the JWT key ring. Every method takes the call's
tenant-scoped JWT (audience `memory`), verifies it, and runs in a transaction scoped to that
tenant; a token is never trusted for another tenant's rows (RLS enforces it below us too).

Idempotent methods: all of them (turns are keyed by seq, call rows are upserts, finalisation
fills only empty columns, stream connections are recorded once per stream).

When it dies: Ray restarts it (max_restarts) and retries in-flight calls (max_task_retries),
which is safe because every method is idempotent. State is only the pool, rebuilt lazily.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import structlog

from engine.config import EngineConfig, TenantConfig
from engine.tokens import MEMORY_AUDIENCE, KeyRing, verify
from memory import calls, messages, tenants
from memory.db import create_pool
from memory.models import CallEnd, CallRecord, CallStart, Turn

log = structlog.get_logger(__name__)


class MemoryActor:
    def __init__(self, config: EngineConfig, index: int = 0) -> None:
        self._config = config
        self._index = index
        self._ring = KeyRing.single(config.jwt_secret)
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"MemoryActor({self._index})"

    async def _db(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await create_pool(
                        self._config.app_database_url, min_size=1, max_size=8
                    )
        return self._pool

    def _tenant(self, token: str) -> str:
        return verify(self._ring, token, audience=MEMORY_AUDIENCE).tenant_id

    async def start_call(self, token: str, call: CallStart) -> None:
        await calls.start_call(await self._db(), self._tenant(token), call)

    async def stream_connected(self, token: str, call_sid: str, stream_sid: str) -> None:
        tenant = self._tenant(token)
        pool = await self._db()
        if await calls.record_event(pool, tenant, call_sid, "stream", stream_sid, {}):
            await calls.stream_connected(pool, tenant, call_sid)

    async def append_turns(self, token: str, call_sid: str, turns: Sequence[Turn]) -> None:
        await calls.append_turns(await self._db(), self._tenant(token), call_sid, turns)

    async def finish_call(self, token: str, call_sid: str, end: CallEnd) -> None:
        await calls.finish_call(await self._db(), self._tenant(token), call_sid, end)

    async def load_turns(self, token: str, call_sid: str) -> list[Turn]:
        return await calls.load_turns(await self._db(), self._tenant(token), call_sid)

    async def get_call(self, token: str, call_sid: str) -> CallRecord | None:
        return await calls.get_call(await self._db(), self._tenant(token), call_sid)

    async def take_message(self, token: str, message: messages.NewMessage) -> str:
        return await messages.take_message(await self._db(), self._tenant(token), message)

    async def load_tenant_config(self, token: str) -> TenantConfig | None:
        return await tenants.load_config(await self._db(), self._tenant(token))

    async def check_health(self) -> dict[str, object]:
        pool = await self._db()
        async with pool.acquire(timeout=5) as conn:
            await conn.fetchval("SELECT 1")
        return {"index": self._index, "pool_size": pool.get_size()}

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
