"""Messages and callback requests as admins work through them: pages newest first, and
marking one done (or open again). I/O: asyncpg, on the `messages` table of 0002.

The agent writes messages through memory.messages; this module only reads pages and changes
status, with an audit entry per change.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import asyncpg

from memory import audit
from memory.audit import Actor
from memory.db import tenant_tx
from memory.messages import Message, message_of

MessageStatus = Literal["open", "done"]

_LIST = """
SELECT message_id, call_sid, caller_number, caller_name, reason, preferred_time,
       callback_number, status, created_at, done_at, urgent
FROM messages
WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
  AND ($3::timestamptz IS NULL OR (created_at, message_id) < ($3, $4::uuid))
ORDER BY created_at DESC, message_id DESC
LIMIT $5
"""
_SET_STATUS = """
UPDATE messages SET status = $3,
       done_at = CASE WHEN $3 = 'done' THEN coalesce(done_at, now()) ELSE NULL END
WHERE tenant_id = $1 AND message_id = $2
RETURNING message_id, call_sid, caller_number, caller_name, reason, preferred_time,
       callback_number, status, created_at, done_at, urgent
"""


async def list_page(
    pool: asyncpg.Pool,
    tenant_id: str,
    *,
    status: MessageStatus | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Message]:
    """Newest first; `after` is the (created_at, message_id) of the last message seen."""
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(
            _LIST,
            uuid.UUID(tenant_id),
            status,
            after[0] if after else None,
            uuid.UUID(after[1]) if after else None,
            limit,
        )
    return [message_of(r) for r in rows]


async def set_status(
    pool: asyncpg.Pool, tenant_id: str, message_id: str, status: MessageStatus, actor: Actor
) -> Message | None:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_SET_STATUS, uuid.UUID(tenant_id), uuid.UUID(message_id), status)
        if row is None:
            return None
        await audit.write(conn, tenant_id, actor, "message.updated", message_id, {"status": status})
    return message_of(row)
