"""Messages and callback requests taken by the agent for the agency. I/O: asyncpg.

One message per (call, reason): a retried tool call does not record it twice. A new message is
reported to the agency's systems (`message.taken`) through the outbox, in the same transaction.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

import asyncpg

from memory import outbox
from memory.call_records import NewMessage
from memory.caller_records import is_anonymous
from memory.content_policy import content_policy
from memory.db import tenant_tx

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_INSERT = """
INSERT INTO messages (tenant_id, message_id, call_sid, caller_number, caller_name, reason,
                      preferred_time, callback_number, urgent)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (tenant_id, call_sid, reason) DO UPDATE SET
    caller_name = coalesce(EXCLUDED.caller_name, messages.caller_name),
    urgent = coalesce(EXCLUDED.urgent, messages.urgent),
    preferred_time = coalesce(EXCLUDED.preferred_time, messages.preferred_time),
    callback_number = coalesce(EXCLUDED.callback_number, messages.callback_number)
RETURNING message_id, created_at, (xmax = 0) AS inserted
"""
_LIST = """
SELECT message_id, call_sid, caller_number, caller_name, reason, preferred_time, callback_number,
       status, created_at, done_at, urgent
FROM messages WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
ORDER BY created_at DESC LIMIT $3
"""


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str
    call_sid: str
    caller_number: str = field(repr=False)
    caller_name: str | None = field(repr=False)
    reason: str = field(repr=False)
    preferred_time: str | None
    callback_number: str | None = field(repr=False)
    status: str
    created_at: datetime
    done_at: datetime | None
    urgent: str | None = None  # the condition of an urgent claim after hours


def message_of(row: asyncpg.Record) -> Message:
    """A messages row as a Message."""
    return Message(
        message_id=str(row["message_id"]),
        call_sid=row["call_sid"],
        caller_number=row["caller_number"],
        caller_name=row["caller_name"],
        reason=row["reason"],
        preferred_time=row["preferred_time"],
        callback_number=row["callback_number"],
        status=row["status"],
        created_at=row["created_at"],
        done_at=row["done_at"],
        urgent=row["urgent"],
    )


def _textable(number: str) -> str | None:
    """The caller's number when a text can go to it (E.164, not a withheld number)."""
    number = number.strip()
    if is_anonymous(number) or not _E164.fullmatch(number):
        return None
    return number


async def take_message(
    pool: asyncpg.Pool, tenant_id: str, message: NewMessage, *, outbox_queue: str
) -> str:
    """Record the message (once per call and reason); a new one is reported on the writing
    engine's ``outbox_queue``."""
    async with tenant_tx(pool, tenant_id) as conn:
        message = replace(
            message, reason=(await content_policy(conn, tenant_id)).text(message.reason)
        )
        row = await conn.fetchrow(
            _INSERT,
            uuid.UUID(tenant_id),
            uuid.uuid4(),
            message.call_sid,
            message.caller_number,
            message.caller_name,
            message.reason,
            message.preferred_time,
            message.callback_number,
            message.urgent,
        )
        assert row is not None  # an upsert always returns its row
        message_id = str(row["message_id"])
        if row["inserted"]:
            data = {
                "message_id": message_id,
                "call_sid": message.call_sid,
                "caller_number": message.caller_number,
                "caller_name": message.caller_name,
                "reason": message.reason,
                "preferred_time": message.preferred_time,
                "callback_number": message.callback_number,
                "created_at": row["created_at"].isoformat(),
                "urgent": message.urgent,
            }
            await outbox.emit(
                conn,
                tenant_id,
                "message.taken",
                message_id,
                data,
                queue=outbox_queue,
                confirm_to=_textable(message.caller_number) if message.text_confirmation else None,
            )
    return message_id


async def list_messages(
    pool: asyncpg.Pool, tenant_id: str, *, status: str | None = None, limit: int = 50
) -> list[Message]:
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_LIST, uuid.UUID(tenant_id), status, limit)
    return [message_of(r) for r in rows]
