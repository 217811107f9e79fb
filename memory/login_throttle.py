"""Login throttling: failed logins counted per email digest, and a lock that doubles.

Platform-level rows (no tenant: the email is all a login starts from), keyed by a digest of the
email so the table holds no address. I/O: asyncpg.

A row whose last failure is older than the failure window counts for nothing: `throttle_state`
does not see it (nor its lock) and the next failure starts the count again from one. `prune`
deletes such rows once their lock, if any, has also ended, in short batches (memory actor 0's
retention loop, actors.memory_loops), so addresses that fail and never succeed - a password
spray - do not pile up for ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from memory.admin_db import platform_tx

FAILURE_WINDOW_S = 24 * 3600
"""Failures older than this are forgotten (admin_api.state.AuthPolicy.failure_window_s)."""

_THROTTLE_STATE = """
SELECT failures, locked_until FROM login_throttle
WHERE email_digest = $1 AND last_failure_at > now() - make_interval(secs => $2)
"""
_THROTTLE_FAIL = """
INSERT INTO login_throttle AS t (email_digest, failures, last_failure_at) VALUES ($1, 1, now())
ON CONFLICT (email_digest) DO UPDATE SET
    failures = CASE WHEN t.last_failure_at <= now() - make_interval(secs => $2) THEN 1
                    ELSE t.failures + 1 END,
    locked_until = CASE WHEN t.last_failure_at <= now() - make_interval(secs => $2) THEN NULL
                        ELSE t.locked_until END,
    last_failure_at = now()
RETURNING failures
"""
_THROTTLE_LOCK = """
UPDATE login_throttle SET locked_until = now() + make_interval(secs => $2)
WHERE email_digest = $1
RETURNING locked_until
"""
_THROTTLE_CLEAR = "DELETE FROM login_throttle WHERE email_digest = $1"
# Oldest first along login_throttle_age; SKIP LOCKED leaves a row a login is updating (the
# re-check under the row lock keeps one whose failure just moved into the window).
_THROTTLE_PRUNE = """
DELETE FROM login_throttle WHERE email_digest IN (
    SELECT email_digest FROM login_throttle
    WHERE last_failure_at < now() - make_interval(secs => $1)
      AND (locked_until IS NULL OR locked_until < now())
    ORDER BY last_failure_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
"""
PRUNE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Throttle:
    failures: int
    locked_until: datetime | None


async def throttle_state(pool: asyncpg.Pool, digest: bytes, *, window_s: int) -> Throttle:
    async with platform_tx(pool) as conn:
        row = await conn.fetchrow(_THROTTLE_STATE, digest, window_s)
    if row is None:
        return Throttle(0, None)
    return Throttle(row["failures"], row["locked_until"])


async def record_failure(
    pool: asyncpg.Pool,
    digest: bytes,
    *,
    window_s: int,
    lock_after: int,
    base_lock_s: int,
    max_lock_s: int,
) -> Throttle:
    """Count a failed login; from `lock_after` failures on, lock for a doubling delay."""
    async with platform_tx(pool) as conn:
        failures: int = await conn.fetchval(_THROTTLE_FAIL, digest, window_s)
        locked_until = None
        if failures >= lock_after:
            delay = min(base_lock_s * 2 ** min(failures - lock_after, 20), max_lock_s)
            locked_until = await conn.fetchval(_THROTTLE_LOCK, digest, delay)
    return Throttle(failures, locked_until)


async def clear_failures(pool: asyncpg.Pool, digest: bytes) -> None:
    async with platform_tx(pool) as conn:
        await conn.execute(_THROTTLE_CLEAR, digest)


async def prune_batch(pool: asyncpg.Pool, *, window_s: int, limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` rows past the window and past their lock, in one short
    transaction; how many went."""
    async with platform_tx(pool) as conn:
        status: str = await conn.execute(_THROTTLE_PRUNE, window_s, limit)
    return int(status.rsplit(" ", 1)[-1])


async def prune(pool: asyncpg.Pool, *, window_s: int, batch: int = PRUNE_BATCH) -> int:
    """Delete every row past the window and past its lock, `batch` rows per transaction, until
    a batch comes back short; how many went."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    total = 0
    while True:
        deleted = await prune_batch(pool, window_s=window_s, limit=batch)
        total += deleted
        if deleted < batch:
            return total
