"""Login rate limits counted in Postgres (memory.login_limits through admin_api.ratelimit):
sliding-window behaviour and Retry-After, concurrent hits from separate pools, pruning, what
the table holds, and two app instances over one database sharing one budget."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import asyncpg

from admin_api.ratelimit import Limit, SharedLimits
from admin_api.state import AdminState, AuthPolicy
from engine.config import EngineConfig
from memory import login_limits
from memory.db import create_pool
from tests.conftest import PgUrls
from tests.integration.admin_harness import admin_harness, new_address, new_email, shared_passwords

SECRET = "login-limit-test-secret-" + "x" * 24


def _limit(limit: int, window_s: float = 60) -> Limit:
    return Limit(f"test-{secrets.token_hex(4)}", limit, window_s)


async def _age(pool: asyncpg.Pool, key: bytes, seconds: float) -> None:
    """Move a key's hits `seconds` into the past, as if that time had gone by."""
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE login_limits SET hits = ARRAY(SELECT t - make_interval(secs => $2) "
            "FROM unnest(hits) t ORDER BY t), expires_at = expires_at - make_interval(secs => $2) "
            "WHERE limit_key = $1",
            key,
            float(seconds),
        )


async def test_sliding_window_limits_answers_retry_after_and_recovers(
    app_pool: asyncpg.Pool,
) -> None:
    limits = SharedLimits(SECRET)
    limit = _limit(3)
    assert [await limits.hit(app_pool, limit, "ip") for _ in range(3)] == [None, None, None]
    wait = await limits.hit(app_pool, limit, "ip")
    assert wait is not None
    assert 59 <= wait <= 60
    assert await limits.hit(app_pool, limit, "other ip") is None
    # Refused hits are not counted: once the first three leave the window, three more pass.
    key = limits.key(limit, "ip")
    await _age(app_pool, key, 61)
    again = [await limits.hit(app_pool, limit, "ip") for _ in range(4)]
    assert again[:3] == [None, None, None]
    assert again[3] is not None
    assert 59 <= again[3] <= 60
    # A window that slides: with one hit 50 s old, the next slot opens in about 10 s.
    await _age(app_pool, key, 50)
    async with app_pool.acquire() as conn:
        await conn.execute(
            "UPDATE login_limits SET hits = hits[2:] || now() WHERE limit_key = $1", key
        )
    retry = await limits.hit(app_pool, limit, "ip")
    assert retry is not None
    assert 9 <= retry <= 11


async def test_concurrent_hits_from_separate_pools_never_exceed_the_limit(
    pg_urls: PgUrls,
) -> None:
    pools = [await create_pool(pg_urls.app, min_size=4, max_size=4) for _ in range(2)]
    try:
        replicas = [SharedLimits(SECRET) for _ in pools]
        limit = _limit(10)
        answers = await asyncio.gather(
            *(replicas[i % 2].hit(pools[i % 2], limit, "203.0.113.9") for i in range(40))
        )
        assert sum(a is None for a in answers) == 10
    finally:
        for pool in pools:
            await pool.close()


async def test_rows_hold_no_address_and_expired_rows_are_pruned(app_pool: asyncpg.Pool) -> None:
    limits = SharedLimits(SECRET)
    limit = _limit(5)
    address = "198.51.100.23"
    await limits.hit(app_pool, limit, address)
    key = limits.key(limit, address)
    async with app_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM login_limits WHERE limit_key = $1", key)
        assert row is not None
        assert address.encode() not in bytes(row["limit_key"])
        assert address not in str(dict(row))
    await _age(app_pool, key, 61)
    assert await login_limits.prune(app_pool) >= 1
    async with app_pool.acquire() as conn:
        assert await conn.fetchval("SELECT 1 FROM login_limits WHERE limit_key = $1", key) is None


async def test_two_app_instances_share_one_budget(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, tmp_path: Path
) -> None:
    """Two replicas (two apps, two states, two DB pools) over one database: the per-IP and
    the per-account limits count the attempts of both."""
    config = EngineConfig(app_database_url=pg_urls.app, jwt_secret=jwt_secret)
    policy = AuthPolicy(login_per_ip=3, login_per_account=100)
    address = new_address()
    async with (
        admin_harness(
            pg_urls.app,
            jwt_secret,
            app_pool,
            tmp_path / "a",
            admin_state=AdminState(config, passwords=shared_passwords(), policy=policy),
            client_address=address,
        ) as one,
        admin_harness(
            pg_urls.app,
            jwt_secret,
            app_pool,
            tmp_path / "b",
            admin_state=AdminState(config, passwords=shared_passwords(), policy=policy),
            client_address=address,
        ) as two,
    ):
        assert one.admin is not two.admin
        codes = [
            (await replica.login(new_email(), "wrong wrong wrong")).status_code
            for replica in (one, two, one)
        ]
        assert codes == [401, 401, 401]
        refused = await two.login(new_email(), "wrong wrong wrong")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # Per account, from two addresses, through two replicas.
        per_account = AuthPolicy(login_per_ip=100, login_per_account=2)
        email = new_email()
        async with (
            admin_harness(
                pg_urls.app,
                jwt_secret,
                app_pool,
                tmp_path / "c",
                admin_state=AdminState(config, passwords=shared_passwords(), policy=per_account),
            ) as three,
            admin_harness(
                pg_urls.app,
                jwt_secret,
                app_pool,
                tmp_path / "d",
                admin_state=AdminState(config, passwords=shared_passwords(), policy=per_account),
            ) as four,
        ):
            assert (await three.login(email, "wrong wrong wrong")).status_code == 401
            assert (await four.login(email, "wrong wrong wrong")).status_code == 401
            assert (await three.login(email, "wrong wrong wrong")).status_code == 429
