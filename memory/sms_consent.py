"""Who may be texted: STOP, START and HELP texted to an agency's number (the tables of 0023 and
0009). I/O: asyncpg.

Each keyword message is recorded once by its MessageSid, in the transaction that applies it, so
a replayed webhook changes nothing. A STOP puts the number on the tenant's opt-out list, which
the outbox honours when it queues a text and again when it sends one (memory.outbox); a START
takes it off; a HELP changes nothing.
"""

from __future__ import annotations

import uuid

import asyncpg

from engine.sms_keywords import Keyword
from memory.db import tenant_tx

_RECORD = """
INSERT INTO sms_keywords (tenant_id, message_sid, number, keyword) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING
"""
_OPT_OUT = """
INSERT INTO sms_opt_outs (tenant_id, number) VALUES ($1, $2)
ON CONFLICT (tenant_id, number) DO UPDATE SET opted_out_at = now()
"""
_OPT_IN = "DELETE FROM sms_opt_outs WHERE tenant_id = $1 AND number = $2"


async def apply_keyword(
    pool: asyncpg.Pool, tenant_id: str, message_sid: str, number: str, word: Keyword
) -> bool:
    """Record and apply one keyword message; False when this message was seen before."""
    tenant = uuid.UUID(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        new = (await conn.execute(_RECORD, tenant, message_sid, number, word)).endswith(" 1")
        if new and word == "stop":
            await conn.execute(_OPT_OUT, tenant, number)
        elif new and word == "start":
            await conn.execute(_OPT_IN, tenant, number)
    return new
