"""A warm transfer's course on the call's row (migration 0027). I/O: asyncpg.

`held` notes when the caller began holding (the conference's first wait request). `accepted`
records the person's acceptance: the call is transferred and `transfer.completed` is queued.
`returned` records a failure (busy, no answer, failed, declined): the call is reopened for the
agent to resume, a system line telling the agent why is appended to the transcript, and
`transfer.failed` is queued - all in one transaction. Each acts once: the first result of a
transfer wins and a replayed callback changes nothing (None). When the caller's own call has
already ended (they hung up on hold), either one instead records `caller-hung-up`: nobody is
joined or brought back, the call's outcome is the caller's hang-up, and `transfer.failed` says
so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from memory import outbox
from memory.calls import TERMINAL_STATUSES, call_record
from memory.db import Conn, tenant_tx

CALLER_HUNG_UP = "caller-hung-up"
_HELD = """
UPDATE calls SET transfer_held_at = coalesce(transfer_held_at, now())
WHERE tenant_id = $1 AND call_sid = $2 AND transfer_result IS NULL
"""
# The session may still be writing its end when the answer comes: the outcome is set here
# whether or not it has (the session's own write then keeps this one).
_ACCEPTED = """
UPDATE calls SET transfer_result = 'completed', transfer_joined_at = now(),
                 outcome = 'transferred', transferred_to = coalesce(transferred_to, $3),
                 ended_at = coalesce(ended_at, now())
WHERE tenant_id = $1 AND call_sid = $2 AND transfer_result IS NULL
  AND (outcome IS NULL OR outcome = 'warm_transfer')
  AND (twilio_status IS NULL OR NOT twilio_status = ANY($4::text[]))
RETURNING *
"""
_RETURNED = """
UPDATE calls SET transfer_result = $3, outcome = NULL, end_detail = NULL, ended_at = NULL,
                 duration_ms = NULL
WHERE tenant_id = $1 AND call_sid = $2 AND transfer_result IS NULL
  AND (outcome IS NULL OR outcome = 'warm_transfer')
  AND (twilio_status IS NULL OR NOT twilio_status = ANY($4::text[]))
RETURNING *
"""
# The caller's call ended while they held (Twilio's final status came): the transfer ends there.
_ABANDONED = """
UPDATE calls SET transfer_result = 'caller-hung-up',
                 outcome = CASE WHEN outcome = 'warm_transfer' THEN 'caller_hung_up'
                                ELSE outcome END
WHERE tenant_id = $1 AND call_sid = $2 AND transfer_result IS NULL
  AND twilio_status = ANY($3::text[])
RETURNING *
"""
_NOTE = """
INSERT INTO call_turns (tenant_id, call_sid, seq, role, text, meta, at)
SELECT $1, $2, coalesce(max(seq), -1) + 1, 'system', $3, $4::jsonb, now()
FROM call_turns WHERE tenant_id = $1 AND call_sid = $2
"""


@dataclass(frozen=True, slots=True)
class TransferEnd:
    call_sid: str
    transferred_to: str | None
    result: str
    hold_ms: int | None


_TERMINAL = sorted(TERMINAL_STATUSES)


async def _failed(conn: Conn, tenant_id: str, end: TransferEnd, outbox_queue: str) -> None:
    data = {
        "call_sid": end.call_sid,
        "transferred_to": end.transferred_to,
        "result": end.result,
        "hold_ms": end.hold_ms,
    }
    await outbox.emit(conn, tenant_id, "transfer.failed", end.call_sid, data, queue=outbox_queue)


async def _abandoned(
    conn: Conn, tenant_id: str, call_sid: str, outbox_queue: str
) -> TransferEnd | None:
    """The caller hung up on hold: the transfer ends as `caller-hung-up` (once)."""
    row = await conn.fetchrow(_ABANDONED, uuid.UUID(tenant_id), call_sid, _TERMINAL)
    if row is None:
        return None
    held_for = _hold_ms(row["transfer_held_at"], row["ended_at"] or row["transfer_held_at"])
    end = TransferEnd(call_sid, row["transferred_to"], CALLER_HUNG_UP, held_for)
    await _failed(conn, tenant_id, end, outbox_queue)
    return end


def _hold_ms(held: datetime | None, now: datetime) -> int | None:
    return round((now - held).total_seconds() * 1000) if held is not None else None


async def held(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> None:
    """The caller began holding (later wait requests change nothing)."""
    async with tenant_tx(pool, tenant_id) as conn:
        await conn.execute(_HELD, uuid.UUID(tenant_id), call_sid)


async def accepted(
    pool: asyncpg.Pool, tenant_id: str, call_sid: str, target: str, *, outbox_queue: str
) -> TransferEnd | None:
    """The person accepted: the call is transferred to `target` (transfer.completed)."""
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_ACCEPTED, uuid.UUID(tenant_id), call_sid, target, _TERMINAL)
        if row is None:
            return await _abandoned(conn, tenant_id, call_sid, outbox_queue)
        end = TransferEnd(
            call_sid,
            row["transferred_to"],
            "completed",
            _hold_ms(row["transfer_held_at"], row["transfer_joined_at"]),
        )
        call = call_record(row)
        data = {
            "call_sid": call_sid,
            "from": call.from_number,
            "to": call.to_number,
            "started_at": call.started_at.isoformat(),
            "outcome": "transferred",
            "transferred_to": end.transferred_to,
            "warm": True,
            "hold_ms": end.hold_ms,
        }
        await outbox.emit(conn, tenant_id, "transfer.completed", call_sid, data, queue=outbox_queue)
    return end


async def returned(
    pool: asyncpg.Pool,
    tenant_id: str,
    call_sid: str,
    result: str,
    note: str,
    *,
    outbox_queue: str,
) -> TransferEnd | None:
    """The transfer failed with `result`: the call reopens for the agent, told by `note`
    (transfer.failed)."""
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_RETURNED, uuid.UUID(tenant_id), call_sid, result, _TERMINAL)
        if row is None:
            return await _abandoned(conn, tenant_id, call_sid, outbox_queue)
        now = await conn.fetchval("SELECT now()")
        end = TransferEnd(
            call_sid, row["transferred_to"], result, _hold_ms(row["transfer_held_at"], now)
        )
        meta = {"warm_transfer": result}
        await conn.execute(_NOTE, uuid.UUID(tenant_id), call_sid, note, meta)
        await _failed(conn, tenant_id, end, outbox_queue)
    return end
