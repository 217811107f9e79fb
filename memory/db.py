"""Connection pools and tenant-scoped transactions. I/O: asyncpg.

The tenant is set only with `set_config('app.tenant_id', $1, true)` inside a transaction, so it
ends with the transaction and a pooled connection never carries one tenant into the next use.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

QUERY_TIMEOUT_S = 5.0
ACQUIRE_TIMEOUT_S = 5.0

Conn: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"
_SET_TENANT = "SELECT set_config('app.tenant_id', $1, true)"


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


def _link_failed(exc: BaseException) -> bool:
    """Errors after which the connection's state is unknown: drop it, never talk through it."""
    return isinstance(
        exc,
        TimeoutError
        | OSError
        | asyncio.CancelledError
        | asyncpg.InterfaceError
        | asyncpg.PostgresConnectionError,
    )


def _stale(exc: BaseException) -> bool:
    """The pooled connection was already dead (the link dropped while it sat idle)."""
    return not isinstance(exc, TimeoutError) and isinstance(
        exc, ConnectionError | asyncpg.InterfaceError | asyncpg.PostgresConnectionError
    )


def _drop(conn: Conn) -> None:
    with contextlib.suppress(asyncpg.InterfaceError):  # already closed and detached
        if not conn.is_closed():
            conn.terminate()


@asynccontextmanager
async def tenant_tx(
    pool: asyncpg.Pool, tenant_id: str, *, timeout: float = QUERY_TIMEOUT_S
) -> AsyncIterator[Conn]:
    """A transaction in which row-level security sees exactly one tenant.

    BEGIN, the tenant and COMMIT/ROLLBACK each get ``timeout``. A pooled connection found dead
    at BEGIN (nothing sent yet) is replaced once. When the link times out or breaks later, the
    connection is terminated instead of being rolled back and reset through the same dead link
    (which would hold the caller for another timeout or two); the pool then replaces it.
    Do not open `conn.transaction()` inside (asyncpg refuses it).
    """
    tenant = check_tenant_id(tenant_id)
    for attempt in range(2):
        async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            try:
                await conn.execute("BEGIN", timeout=timeout)
                await conn.execute(_SET_TENANT, tenant, timeout=timeout)
            except BaseException as exc:
                _drop(conn)
                if attempt == 0 and _stale(exc):
                    continue
                raise
            try:
                yield conn
            except BaseException as exc:
                if _link_failed(exc):
                    _drop(conn)
                else:
                    try:
                        await conn.execute("ROLLBACK", timeout=timeout)
                    except BaseException:
                        _drop(conn)
                        raise exc from None
                raise
            try:
                await conn.execute("COMMIT", timeout=timeout)
            except BaseException:
                _drop(conn)
                raise
            return
