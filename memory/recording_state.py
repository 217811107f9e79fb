"""A call's recording as it changes (calls.recording; engine.recording_consent). I/O: asyncpg.

The tenant actor claims the start of one owed after the notice (so it is started once, never
after a decline), gives the claim back when Twilio refused it, and marks a decline before it
stops one.
"""

from __future__ import annotations

import uuid

import asyncpg

from memory.db import tenant_tx

_RECORDING = "SELECT recording FROM calls WHERE tenant_id = $1 AND call_sid = $2"
_CLAIM_RECORDING = """
UPDATE calls SET recording = 'after_notice'
WHERE tenant_id = $1 AND call_sid = $2 AND recording = 'not_started'
RETURNING call_sid
"""
_UNCLAIM_RECORDING = """
UPDATE calls SET recording = 'not_started'
WHERE tenant_id = $1 AND call_sid = $2 AND recording = 'after_notice'
"""
_DECLINE_RECORDING = """
UPDATE calls SET recording = 'declined'
FROM (SELECT recording FROM calls WHERE tenant_id = $1 AND call_sid = $2 FOR UPDATE) AS before
WHERE calls.tenant_id = $1 AND calls.call_sid = $2
RETURNING before.recording
"""


async def recording_on_call(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> str | None:
    """How the call's recording stands in its record (None: not recorded, or no row)."""
    async with tenant_tx(pool, tenant_id) as conn:
        found: str | None = await conn.fetchval(_RECORDING, uuid.UUID(tenant_id), call_sid)
    return found


async def claim_recording(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> bool:
    """Mark the call's recording started after the notice; False when it is not owed (started
    already, declined, or never to be started after a notice): then nothing may start it."""
    async with tenant_tx(pool, tenant_id) as conn:
        claimed = await conn.fetchval(_CLAIM_RECORDING, uuid.UUID(tenant_id), call_sid)
    return claimed is not None


async def unclaim_recording(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> None:
    """The start claimed did not happen (Twilio refused it): the recording is owed again."""
    async with tenant_tx(pool, tenant_id) as conn:
        await conn.execute(_UNCLAIM_RECORDING, uuid.UUID(tenant_id), call_sid)


async def decline_recording(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> str | None:
    """The caller said no to the recording: from now on the call's recordings are discarded
    (the recording webhook deletes them instead of downloading them) and none is started.
    Returns how it stood before (`not_started`: nothing to stop)."""
    async with tenant_tx(pool, tenant_id) as conn:
        before: str | None = await conn.fetchval(_DECLINE_RECORDING, uuid.UUID(tenant_id), call_sid)
    return before
