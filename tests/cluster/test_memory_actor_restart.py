"""A memory actor killed (SIGKILL) in the middle of a request on a real Ray: Ray restarts it
and retries the request, which is applied exactly once - the dead actor's half-done
transaction rolls back, the retried one commits, and the memory's history shows one change."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid

import asyncpg
import pytest
import ray

from actors import handles, ray_runtime
from engine.cli.runtime import Engine
from memory import caller_memory
from memory.caller_records import NewMemory
from memory.db import tenant_tx
from tests.conftest import PgUrls
from tests.memory_support import new_tenant, phone, sid, token

pytestmark = pytest.mark.cluster

_WAITING = """
SELECT count(*) FROM pg_stat_activity
WHERE usename = 'neurosphere_app' AND wait_event_type = 'Lock' AND query LIKE '%INTO memories%'
"""


async def _waiters(superuser: asyncpg.Connection, count: int) -> None:
    for _ in range(600):
        if await superuser.fetchval(_WAITING) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never saw {count} request(s) waiting on the row lock")


async def test_a_killed_memory_actor_is_replaced_and_its_request_retried(
    ray_engine: Engine, app_pool: asyncpg.Pool, pg_urls: PgUrls
) -> None:
    actor = ray.get_actor("memory:0", namespace=ray_runtime.NAMESPACE)
    client = handles.RayMemoryClient([actor])
    tenant = await new_tenant(app_pool)
    tok = token(ray_engine.config.jwt_secret, tenant)
    caller, call_sid = phone(), sid()
    await client.remember(
        tok, NewMemory(caller, call_sid, "claim", "number:clm-5", {"status": "open"})
    )
    before = await handles.call(actor.check_health, timeout=30)

    superuser = await asyncpg.connect(pg_urls.superuser.replace("/postgres?", "/neurosphere?"))
    try:
        async with tenant_tx(app_pool, tenant) as conn:
            # Hold the memory's row: the actor's upsert will wait on it, mid-transaction.
            await conn.execute(
                "SELECT 1 FROM memories WHERE tenant_id = $1 AND key = 'number:clm-5' FOR UPDATE",
                uuid.UUID(tenant),
            )
            request = asyncio.create_task(
                client.remember(
                    tok, NewMemory(caller, call_sid, "claim", "number:clm-5", {"status": "paid"})
                )
            )
            await _waiters(superuser, 1)
            os.kill(int(before["pid"]), signal.SIGKILL)
            # Ray restarts the actor and retries the request, which queues behind the same lock
            # (the dead actor's backend is still waiting there too until we let go).
            await _waiters(superuser, 2)
        await asyncio.wait_for(request, 60)
    finally:
        await superuser.close()

    after = await handles.call(actor.check_health, timeout=30)
    assert after["pid"] != before["pid"]
    (memory,) = await caller_memory.list_memories(app_pool, tenant, caller)
    assert (memory.version, memory.value) == (2, {"status": "paid"})
    history = await caller_memory.history(app_pool, tenant, caller, "claim", "number:clm-5")
    assert [h.value for h in history] == [{"status": "open"}]
    ctx = await client.caller_context(tok, caller)
    assert [m.key for m in ctx.memories] == ["number:clm-5"]
