"""Connection pools and tenant-scoped transactions. I/O: asyncpg.

The tenant is set only with `set_config('app.tenant_id', $1, true)` inside a transaction, so it
ends with the transaction and a pooled connection never carries one tenant into the next use.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from asyncpg.pool import PoolConnectionProxy

QUERY_TIMEOUT_S = 5.0
ACQUIRE_TIMEOUT_S = 5.0


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 5) -> asyncpg.Pool:
    """An app-role pool; every statement gets a timeout."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=QUERY_TIMEOUT_S,
        timeout=10,
        max_inactive_connection_lifetime=300,
    )
    assert pool is not None
    return pool


def check_tenant_id(tenant_id: str) -> str:
    """Canonical form of a tenant id; ValueError when it is not a UUID."""
    return str(uuid.UUID(tenant_id))


@asynccontextmanager
async def tenant_tx(
    pool: asyncpg.Pool, tenant_id: str
) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
    """A transaction in which row-level security sees exactly one tenant."""
    tenant = check_tenant_id(tenant_id)
    async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant)
        yield conn
