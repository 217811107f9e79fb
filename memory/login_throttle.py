"""Login throttling: failed logins counted per email digest, and a lock that doubles.

Platform-level rows (no tenant: the email is all a login starts from), keyed by a digest of the
email so the table holds no address. I/O: asyncpg.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from memory.admin_db import platform_tx

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
