"""Forgetting a caller for the admin API: every row in one transaction. I/O: asyncpg.

One tenant transaction deletes the recording rows of the caller's calls, then everything
memory.caller_memory forgets (profile, memories and their history, summaries, personality,
consolidations, post-call jobs, messages, the transcripts and events of their calls, whose rows
stay as anonymous ones), and appends the audit entry. All of it commits or none of it does: a
failure half-way leaves the caller exactly as they were, and running it again does the job.

The recording files are not touched here. Their ids come back, and the caller (the admin route,
which owns the recordings store) removes them after the commit: a crash in between leaves at
worst an orphan file, never a row naming a missing file.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from memory import audit, caller_memory
from memory.audit import Actor
from memory.db import tenant_tx

_DELETE_RECORDINGS = """
DELETE FROM recordings r USING calls c
WHERE r.tenant_id = $1 AND c.tenant_id = r.tenant_id AND c.call_sid = r.call_sid
  AND c.from_number = $2
RETURNING r.recording_sid
"""


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What the transaction deleted that still has files: remove them after it committed."""

    recording_sids: tuple[str, ...]


async def forget_caller(
    pool: asyncpg.Pool,
    tenant_id: str,
    caller_number: str,
    actor: Actor,
    *,
    audit_target: str,
) -> Forgotten | None:
    """Delete every row of the caller and audit it, in one transaction; None when the tenant
    held nothing of them (then nothing is written). `audit_target` names the caller in the
    audit log (a digest, never the number)."""
    tenant = uuid.UUID(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        # Before forget_rows: its last statement anonymises the calls this join matches on.
        rows = await conn.fetch(
            _DELETE_RECORDINGS, tenant, caller_number, timeout=caller_memory.FORGET_TIMEOUT_S
        )
        affected = await caller_memory.forget_rows(conn, tenant_id, caller_number)
        if not rows and not affected:
            return None
        await audit.write(
            conn, tenant_id, actor, "caller.forgotten", audit_target, {"recordings": len(rows)}
        )
    return Forgotten(tuple(r["recording_sid"] for r in rows))
