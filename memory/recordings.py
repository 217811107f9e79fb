"""Call recordings: one row per Twilio RecordingSid, linked to its call. I/O: asyncpg.

The file itself lives in the recordings store (memory.recording_files); a row says where
(`file_name`, relative to the store), how big it is and its SHA-256. A recording is `pending`
from the callback until the download is verified and stored, `failed` after the last attempt.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from memory.db import Conn, tenant_tx

RecordingStatus = Literal["pending", "stored", "failed"]

_CALL_EXISTS = "SELECT 1 FROM calls WHERE tenant_id = $1 AND call_sid = $2"
# A new callback for a failed recording starts it over; a stored or pending one stays as is.
_REGISTER = """
INSERT INTO recordings AS r (tenant_id, recording_sid, call_sid, duration_s, channels)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, recording_sid) DO UPDATE SET
    status = 'pending', attempts = 0, error = NULL
    WHERE r.status = 'failed'
RETURNING recording_sid
"""
_ATTEMPT = """
UPDATE recordings SET attempts = attempts + 1
WHERE tenant_id = $1 AND recording_sid = $2 AND status = 'pending'
RETURNING attempts
"""
_STORED = """
UPDATE recordings SET status = 'stored', file_name = $3, size_bytes = $4, sha256 = $5,
       content_type = $6, error = NULL, stored_at = now()
WHERE tenant_id = $1 AND recording_sid = $2 AND status = 'pending'
RETURNING recording_sid
"""
_FAILED = """
UPDATE recordings SET status = CASE WHEN $4 THEN 'failed' ELSE status END, error = $3
WHERE tenant_id = $1 AND recording_sid = $2 AND status = 'pending'
"""
_GET = """
SELECT recording_sid, call_sid, status, attempts, duration_s, channels, content_type,
       size_bytes, sha256, file_name, error, created_at, stored_at
FROM recordings WHERE tenant_id = $1 AND recording_sid = $2
"""
_FOR_CALL = """
SELECT recording_sid, call_sid, status, attempts, duration_s, channels, content_type,
       size_bytes, sha256, file_name, error, created_at, stored_at
FROM recordings WHERE tenant_id = $1 AND call_sid = $2 ORDER BY created_at
"""
_PENDING = """
SELECT recording_sid, call_sid, status, attempts, duration_s, channels, content_type,
       size_bytes, sha256, file_name, error, created_at, stored_at
FROM recordings
WHERE tenant_id = $1 AND status = 'pending' AND created_at < now() - make_interval(secs => $2)
ORDER BY created_at LIMIT 20
"""


@dataclass(frozen=True, slots=True)
class Recording:
    recording_sid: str
    call_sid: str
    status: RecordingStatus
    attempts: int
    duration_s: int | None
    channels: int | None
    content_type: str | None
    size_bytes: int | None
    sha256: str | None
    file_name: str | None
    error: str | None
    created_at: datetime
    stored_at: datetime | None


def from_row(row: asyncpg.Record) -> Recording:
    return Recording(**{k: row[k] for k in Recording.__slots__})


_DECLINED = "SELECT recording = 'declined' FROM calls WHERE tenant_id = $1 AND call_sid = $2"


async def declined(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> bool:
    """Whether the call's caller declined its recording (its recordings are not kept)."""
    async with tenant_tx(pool, tenant_id) as conn:
        return bool(await conn.fetchval(_DECLINED, uuid.UUID(tenant_id), call_sid))


async def register(
    pool: asyncpg.Pool,
    tenant_id: str,
    recording_sid: str,
    call_sid: str,
    *,
    duration_s: int | None,
    channels: int | None,
) -> bool | None:
    """Record a finished recording. True when it needs downloading now (new, or failed before),
    False when it is already pending or stored, None when the call is unknown."""
    tenant = uuid.UUID(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        if await conn.fetchval(_CALL_EXISTS, tenant, call_sid) is None:
            return None
        sid = await conn.fetchval(_REGISTER, tenant, recording_sid, call_sid, duration_s, channels)
    return sid is not None


async def start_attempt(pool: asyncpg.Pool, tenant_id: str, recording_sid: str) -> int | None:
    """Count a download attempt; None when the recording is no longer pending."""
    async with tenant_tx(pool, tenant_id) as conn:
        value = await conn.fetchval(_ATTEMPT, uuid.UUID(tenant_id), recording_sid)
    return int(value) if value is not None else None


async def mark_stored(
    pool: asyncpg.Pool,
    tenant_id: str,
    recording_sid: str,
    *,
    file_name: str,
    size_bytes: int,
    sha256: str,
    content_type: str,
) -> bool:
    """Link the stored file; False when the recording was deleted (or settled) meanwhile."""
    async with tenant_tx(pool, tenant_id) as conn:
        sid = await conn.fetchval(
            _STORED,
            uuid.UUID(tenant_id),
            recording_sid,
            file_name,
            size_bytes,
            sha256,
            content_type,
        )
    return sid is not None


async def mark_failed(
    pool: asyncpg.Pool, tenant_id: str, recording_sid: str, error: str, *, final: bool
) -> None:
    async with tenant_tx(pool, tenant_id) as conn:
        await conn.execute(_FAILED, uuid.UUID(tenant_id), recording_sid, error[:500], final)


async def get_recording(pool: asyncpg.Pool, tenant_id: str, recording_sid: str) -> Recording | None:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_GET, uuid.UUID(tenant_id), recording_sid)
    return from_row(row) if row is not None else None


async def for_call(conn: Conn, tenant_id: str, call_sid: str) -> list[Recording]:
    """The call's recordings, in the open tenant transaction."""
    rows = await conn.fetch(_FOR_CALL, uuid.UUID(tenant_id), call_sid)
    return [from_row(r) for r in rows]


async def stale_pending(
    pool: asyncpg.Pool, tenant_id: str, *, older_than_s: float
) -> list[Recording]:
    """Recordings still pending long after their callback (their download task was lost)."""
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_PENDING, uuid.UUID(tenant_id), older_than_s)
    return [from_row(r) for r in rows]
