"""Sliding-window rate limits kept in Postgres, so every Serve replica counts the same hits.
I/O: asyncpg.

A key's row holds the times of its hits in the last window. One upsert counts a hit: under the
row lock it drops the hits that have left the window and appends this one if fewer than
`limit` remain; a refused hit is not counted (as with an in-process sliding window). The answer
is the seconds until the oldest remaining hit leaves the window, or None when allowed. Rows
whose window has passed are deleted by `prune`. Keys are opaque 32-byte digests made by the
caller (admin_api.ratelimit); nothing here knows an address or an email.
"""

from __future__ import annotations

import asyncpg

from memory.db import QUERY_TIMEOUT_S, acquire

_HIT = """
INSERT INTO login_limits AS l (limit_key, hits, allowed, expires_at)
VALUES ($1, ARRAY[now()], true, now() + make_interval(secs => $3))
ON CONFLICT (limit_key) DO UPDATE SET
    hits = (SELECT CASE WHEN count(*) < $2 THEN coalesce(array_agg(t ORDER BY t), '{}') || now()
                        ELSE array_agg(t ORDER BY t) END
            FROM unnest(l.hits) t WHERE t > now() - make_interval(secs => $3)),
    allowed = (SELECT count(*) < $2
               FROM unnest(l.hits) t WHERE t > now() - make_interval(secs => $3)),
    expires_at = now() + make_interval(secs => $3)
RETURNING allowed, EXTRACT(EPOCH FROM hits[1] + make_interval(secs => $3) - now()) AS wait_s
"""
_PRUNE = """
DELETE FROM login_limits WHERE limit_key IN (
    SELECT limit_key FROM login_limits WHERE expires_at < now() LIMIT $1
)
"""


async def hit(pool: asyncpg.Pool, key: bytes, *, limit: int, window_s: float) -> float | None:
    """Count one hit of `key`; None when allowed, else seconds until one would be."""
    async with acquire(pool) as conn:
        row = await conn.fetchrow(_HIT, key, limit, float(window_s), timeout=QUERY_TIMEOUT_S)
    assert row is not None  # an upsert always returns its row
    return None if row["allowed"] else float(row["wait_s"])


async def prune(pool: asyncpg.Pool, *, batch: int = 1000) -> int:
    """Delete up to `batch` rows whose window has passed; how many went."""
    async with acquire(pool) as conn:
        status = await conn.execute(_PRUNE, batch, timeout=QUERY_TIMEOUT_S)
    return int(status.split()[-1])
