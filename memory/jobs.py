"""The durable post-call job queue. I/O: asyncpg.

One job per call (`(tenant, call_sid)` key: enqueueing twice is a no-op). Workers claim jobs
across tenants through `claim_post_call_job()` (SECURITY DEFINER, `FOR UPDATE SKIP LOCKED`,
see 0003), which hands out a lease. Everything after the claim runs in the job's tenant
transaction and only while the lease is still ours: `finish` is part of the transaction that
stores the results, so results are applied exactly once even if two workers raced after a
lease expired. A failed attempt goes back to `pending` with a backoff, or to `failed` after
the last attempt or a non-retryable error. Jobs survive restarts: they live only here.
"""

from __future__ import annotations

import uuid

import asyncpg

from memory.caller_records import JobClaim, JobStatus
from memory.db import ACQUIRE_TIMEOUT_S, Conn, tenant_tx

_ENQUEUE = """
INSERT INTO post_call_jobs (tenant_id, call_sid, caller_number, queue) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, call_sid) DO NOTHING
"""
_CLAIM = """
SELECT tenant_id, call_sid, attempts, lease_id FROM claim_post_call_job($1, $2, $3)
"""
_FINISH = """
UPDATE post_call_jobs SET status = 'done', items_stored = $4, finished_at = now(),
       lease_id = NULL, locked_until = NULL, last_error = NULL
WHERE tenant_id = $1 AND call_sid = $2 AND lease_id = $3 AND status = 'running'
RETURNING caller_number
"""
_RETRY = """
UPDATE post_call_jobs SET
    status = CASE WHEN $5 OR attempts >= $6 THEN 'failed' ELSE 'pending' END,
    run_after = now() + make_interval(secs => $4),
    finished_at = CASE WHEN $5 OR attempts >= $6 THEN now() END,
    last_error = $7, lease_id = NULL, locked_until = NULL
WHERE tenant_id = $1 AND call_sid = $2 AND lease_id = $3
RETURNING status
"""
_LEASED_CALLER = """
SELECT caller_number FROM post_call_jobs
WHERE tenant_id = $1 AND call_sid = $2 AND lease_id = $3 AND status = 'running'
"""
_STATUS = """
SELECT call_sid, status, attempts, last_error, items_stored, run_after, finished_at
FROM post_call_jobs WHERE tenant_id = $1 AND call_sid = $2
"""


async def enqueue(
    pool: asyncpg.Pool, tenant_id: str, call_sid: str, caller_number: str, queue: str
) -> bool:
    """Queue the post-call job of a call; False when it was already queued."""
    async with tenant_tx(pool, tenant_id) as conn:
        return await enqueue_on(conn, tenant_id, call_sid, caller_number, queue)


async def enqueue_on(
    conn: Conn, tenant_id: str, call_sid: str, caller_number: str, queue: str
) -> bool:
    """`enqueue` inside the caller's transaction."""
    status = await conn.execute(_ENQUEUE, uuid.UUID(tenant_id), call_sid, caller_number, queue)
    return bool(status.endswith(" 1"))


async def claim(
    pool: asyncpg.Pool, queue: str, *, lease_s: int, max_attempts: int
) -> JobClaim | None:
    """The next due job of ``queue`` (or one whose worker's lease expired), leased to us."""
    async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        row = await conn.fetchrow(_CLAIM, queue, lease_s, max_attempts)
    if row is None:
        return None
    return JobClaim(
        tenant_id=str(row["tenant_id"]),
        call_sid=row["call_sid"],
        attempts=row["attempts"],
        lease_id=str(row["lease_id"]),
    )


async def leased_caller(pool: asyncpg.Pool, job: JobClaim) -> str | None:
    """The job's caller number while the lease is ours (the claim itself reveals only keys)."""
    async with tenant_tx(pool, job.tenant_id) as conn:
        caller: str | None = await conn.fetchval(
            _LEASED_CALLER, uuid.UUID(job.tenant_id), job.call_sid, uuid.UUID(job.lease_id)
        )
    return caller


async def finish(conn: Conn, job: JobClaim, items: int) -> bool:
    """Mark the job done inside the results' transaction; False when the lease is no longer
    ours (another worker took over, or the caller was forgotten): then roll back."""
    caller = await conn.fetchval(
        _FINISH, uuid.UUID(job.tenant_id), job.call_sid, uuid.UUID(job.lease_id), items
    )
    return caller is not None


async def retry_later(
    pool: asyncpg.Pool,
    job: JobClaim,
    *,
    delay_s: float,
    final: bool,
    max_attempts: int,
    error: str,
) -> str | None:
    """Give the job back after a failed attempt; the new status, or None if the lease was lost."""
    async with tenant_tx(pool, job.tenant_id) as conn:
        status: str | None = await conn.fetchval(
            _RETRY,
            uuid.UUID(job.tenant_id),
            job.call_sid,
            uuid.UUID(job.lease_id),
            float(delay_s),
            final,
            max_attempts,
            error[:500],
        )
    return status


async def status(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> JobStatus | None:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_STATUS, uuid.UUID(tenant_id), call_sid)
    if row is None:
        return None
    return JobStatus(
        call_sid=row["call_sid"],
        status=row["status"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        items_stored=row["items_stored"],
        run_after=row["run_after"],
        finished_at=row["finished_at"],
    )
