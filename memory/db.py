"""Connection pools and tenant-scoped transactions. I/O: asyncpg.

The tenant is set only with `set_config('app.tenant_id', $1, true)` inside a transaction, so it
ends with the transaction and a pooled connection never carries one tenant into the next use.

Everything here raises the data layer's own errors (memory.errors) for database failures -
making a pool, acquiring a connection, and anything raised inside a transaction or connection
it hands out - so callers never see asyncpg's. `LazyPool` is the one pool made on first use
(the Serve replica's, a tenant actor's recording downloads).

Every pool speaks pgvector's binary format (the `pgvector` package's asyncpg codec, set on each
new connection): a `vector` parameter is a sequence of floats, a `vector` column comes back as
numbers. The text form cost about ten times more per 384-dimensional vector to encode.
Every pool also speaks JSON as Python: a `json`/`jsonb` parameter is the Python value itself
(dict, list, str, number or bool; never a pre-encoded string; Python None is SQL NULL) and such
a column comes back decoded, so no query site encodes or decodes JSON by hand. A value JSON has
no type for (a datetime, a UUID) is stored as its str().
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from memory.errors import translated

QUERY_TIMEOUT_S = 5.0
ACQUIRE_TIMEOUT_S = 5.0

Conn: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"
# BEGIN and the tenant in one round trip (a simple-protocol message of two statements; the
# transaction BEGIN opens goes on after it). The tenant is spliced in as text: only a canonical
# UUID (check_tenant_id) ever reaches it, so it holds nothing but hex digits and dashes.
_BEGIN_FOR_TENANT = "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true)"


@contextmanager
def database_errors() -> Iterator[None]:
    """Raise memory.errors' Unavailable / Conflict / Rejected for the asyncpg (and socket)
    failures raised inside."""
    try:
        yield
    except Exception as exc:
        mine = translated(exc)
        if mine is None:
            raise
        raise mine from exc


def _json_text(value: object) -> str:
    """A JSON parameter's text: a value JSON has no type for (datetime, UUID) as its str()."""
    return json.dumps(value, default=str)


async def _codecs(conn: asyncpg.Connection) -> None:
    """pgvector's binary `vector` codec and JSON as Python values for `json` and `jsonb`."""
    from pgvector.asyncpg import register_vector  # imported here: numpy, only where a pool is

    await register_vector(conn)
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=_json_text, decoder=json.loads, format="text"
        )


async def _transaction_only(conn: asyncpg.Connection) -> None:
    """A released connection's reset when nothing holds session state: asyncpg has already
    rolled back an open transaction and dropped its listeners; the reset query (advisory
    unlock, CLOSE ALL, UNLISTEN, RESET ALL) would be one more round trip on every release."""


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 5, reset_session: bool = True
) -> asyncpg.Pool:
    """An app-role pool with the vector and JSON codecs; every statement gets a timeout.
    `reset_session` False: a released connection is not reset with a query (for a pool whose
    users set nothing outside a transaction: the webhooks' answer waits on every release)."""
    with database_errors():
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            command_timeout=QUERY_TIMEOUT_S,
            timeout=10,
            max_inactive_connection_lifetime=300,
            init=_codecs,
            reset=None if reset_session else _transaction_only,
        )
    assert pool is not None
    return pool


class LazyPool:
    """An app-role pool made on first use (by one task, however many ask at once) and closed
    by `close`; a failed start leaves none, so the next use tries again."""

    def __init__(
        self, dsn: str, *, min_size: int = 1, max_size: int = 5, reset_session: bool = True
    ) -> None:
        self._dsn = dsn
        self._sizes = (min_size, max_size)
        self._reset_session = reset_session
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    min_size, max_size = self._sizes
                    self._pool = await create_pool(
                        self._dsn,
                        min_size=min_size,
                        max_size=max_size,
                        reset_session=self._reset_session,
                    )
        return self._pool

    async def close(self, timeout: float = 10.0) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.wait_for(pool.close(), timeout)


@asynccontextmanager
async def acquire(pool: asyncpg.Pool, *, timeout: float = ACQUIRE_TIMEOUT_S) -> AsyncIterator[Conn]:
    """A pooled connection (no transaction), with the data layer's errors."""
    with database_errors():
        async with pool.acquire(timeout=timeout) as conn:
            yield conn


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

    BEGIN with the tenant (one round trip) and COMMIT/ROLLBACK each get ``timeout``. A pooled
    connection found dead at BEGIN (nothing sent yet) is replaced once. When the link times out
    or breaks later, the connection is terminated instead of being rolled back and reset through
    the same dead link (which would hold the caller for another timeout or two); the pool then
    replaces it.
    Do not open `conn.transaction()` inside (asyncpg refuses it).
    """
    tenant = check_tenant_id(tenant_id)
    with database_errors():
        async with _tenant_tx(pool, tenant, timeout) as conn:
            yield conn


@asynccontextmanager
async def _tenant_tx(pool: asyncpg.Pool, tenant: str, timeout: float) -> AsyncIterator[Conn]:
    if tenant != check_tenant_id(tenant):  # only a canonical UUID is spliced into SQL
        raise ValueError("tenant id is not in canonical form")
    for attempt in range(2):
        async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            try:
                await conn.execute(_BEGIN_FOR_TENANT.format(tenant=tenant), timeout=timeout)
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


async def one_statement(
    pool: asyncpg.Pool, sql: str, *args: object, timeout: float = QUERY_TIMEOUT_S
) -> list[asyncpg.Record]:
    """The rows of one statement run in its own (implicit) transaction: for a statement that
    sets what it needs itself (a function that sets the tenant, migration 0031 and on) and is
    safe to run twice. A pooled connection found dead is replaced once; when the link times out
    or breaks, the connection is terminated rather than reused (as in tenant_tx)."""
    with database_errors():
        for attempt in range(2):
            async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                try:
                    return await conn.fetch(sql, *args, timeout=timeout)
                except BaseException as exc:
                    if _link_failed(exc):
                        _drop(conn)
                        if attempt == 0 and _stale(exc):
                            continue
                    raise
        raise AssertionError("unreachable")
