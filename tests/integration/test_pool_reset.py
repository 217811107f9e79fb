"""A pool made with `reset_session=False` (the webhooks'): releasing a connection sends no reset
query, and still hands the next user a connection with no transaction and no tenant."""

from __future__ import annotations

import asyncpg
import pytest

from memory.db import acquire, create_pool, tenant_tx
from tests.conftest import PgUrls

TENANT = "00000000-0000-4000-8000-000000000001"


def _queries(conn: object) -> int:
    return int(conn._con._protocol.queries_count)  # type: ignore[attr-defined]


async def test_a_release_costs_no_round_trip(pg_urls: PgUrls) -> None:
    for reset_session, per_use in ((True, 2), (False, 1)):
        pool = await create_pool(pg_urls.app, min_size=1, max_size=1, reset_session=reset_session)
        try:
            async with acquire(pool) as conn:
                before = _queries(conn)
                assert await conn.fetchval("SELECT 1") == 1
            async with acquire(pool) as conn:  # the same connection: the pool holds one
                assert _queries(conn) - before == per_use  # the query, and the reset query
        finally:
            await pool.close()


async def _fail_inside_a_transaction(pool: asyncpg.Pool) -> None:
    async with tenant_tx(pool, TENANT) as conn:
        assert await conn.fetchval("SELECT current_setting('app.tenant_id')") == TENANT
        raise RuntimeError("the webhook failed inside its transaction")


async def test_the_next_user_gets_no_transaction_and_no_tenant(pg_urls: PgUrls) -> None:
    pool = await create_pool(pg_urls.app, min_size=1, max_size=1, reset_session=False)
    try:
        with pytest.raises(RuntimeError):
            await _fail_inside_a_transaction(pool)
        async with acquire(pool) as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") in (
                None,
                "",
            )
        async with acquire(pool) as conn:  # a transaction left open by its user is rolled back
            await conn.execute("BEGIN")
            await conn.execute("SELECT set_config('app.tenant_id', $1, false)", TENANT)
        async with acquire(pool) as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") in (
                None,
                "",
            )
    finally:
        await pool.close()
