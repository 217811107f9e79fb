"""Queue depths for /metrics: post-call jobs and outbox deliveries counted across tenants by
the app role (through queue_depths(), which returns counts only), zeros included."""

from __future__ import annotations

import uuid

import asyncpg

from memory import jobs
from memory.queues import depths
from tests.memory_support import new_tenant, phone, sid


async def _depth(pool: asyncpg.Pool, queue: str, state: str) -> int:
    return next(d.n for d in await depths(pool) if (d.queue, d.state) == (queue, state))


async def test_pending_post_call_work_is_counted(app_pool: asyncpg.Pool) -> None:
    shown = {(d.queue, d.state) for d in await depths(app_pool)}
    assert shown == {
        ("post_call", "pending"),
        ("post_call", "running"),
        ("post_call", "failed"),
        ("outbox", "pending"),
        ("outbox", "running"),
        ("outbox", "dead"),
    }
    before = await _depth(app_pool, "post_call", "pending")
    tenants = [await new_tenant(app_pool) for _ in range(2)]
    queue = "depth-" + uuid.uuid4().hex[:8]  # no drain loop takes these
    for tenant_id in tenants:
        assert await jobs.enqueue(app_pool, tenant_id, sid(), phone(), queue)
    assert await _depth(app_pool, "post_call", "pending") >= before + 2


async def test_the_app_role_sees_counts_but_no_rows_of_other_tenants(
    app_pool: asyncpg.Pool,
) -> None:
    tenant_id = await new_tenant(app_pool)
    assert await jobs.enqueue(app_pool, tenant_id, sid(), phone(), "depth-" + uuid.uuid4().hex[:8])
    async with app_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM post_call_jobs") == 0  # RLS: no tenant
    assert await _depth(app_pool, "post_call", "pending") > 0  # the function counts them all
