"""Call rows, ordered transcript turns and idempotent Twilio callback events. I/O: asyncpg.

Turns are keyed `(tenant_id, call_sid, seq)` and inserted with ON CONFLICT DO NOTHING, so a
retried batch never duplicates a turn. Call finalisation only fills what is still empty, so the
first writer of an outcome wins and replays change nothing. A call's start and end (and a
completed transfer) are reported to the agency's systems through the outbox, in the same
transaction as the row they describe.

After a crash, `open_calls` lists the calls whose row was never closed and `close_open_call`
closes one from what Twilio says of it, queueing its post-call job in the same transaction.

Replays of signed webhooks are answered from here: `call_over` says whether a call has ended
(a replayed `/twilio/voice` then claims nothing), and `claim_resume` grants a resume only while
the call is live or shortly after its stream was lost, counting resumes on the row in one
atomic UPDATE, so a replayed `<Connect action>` cannot claim actors beyond the allowance.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from memory import audit, jobs, outbox
from memory.call_records import CallEnd, CallRecord, CallStart, Turn
from memory.caller_records import is_anonymous
from memory.content_policy import POLICY_RETRIES, ContentPolicy, last_seen_policy, seen_policy
from memory.db import Conn, acquire, check_tenant_id, tenant_tx

TERMINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})

_START = """
INSERT INTO calls (tenant_id, call_sid, from_number, to_number, webhook_ms, recording)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (tenant_id, call_sid) DO NOTHING
RETURNING *
"""
_STREAM_CONNECTED = """
UPDATE calls SET answered_at = coalesce(answered_at, now()), streams = streams + 1
WHERE tenant_id = $1 AND call_sid = $2
"""
# The engine's own outcome replaces the placeholder Twilio's final status left when it came
# first (its status callback can beat the call actor's report); any other outcome stays. The
# recording as the row holds it (kept as it changes) stays, unless the caller declined it.
_FINISH = """
UPDATE calls SET ended_at = coalesce(ended_at, now()),
                 outcome = CASE WHEN outcome IS NULL OR outcome LIKE 'twilio\\_%' THEN $3
                                ELSE outcome END,
                 end_detail = coalesce(end_detail, $4),
                 duration_ms = coalesce(duration_ms, $5),
                 greeting_ms = coalesce(greeting_ms, $6),
                 transferred_to = coalesce(transferred_to, $7),
                 language = coalesce(language, $8),
                 recording = coalesce(CASE WHEN $9::text = 'declined' THEN $9::text END,
                                      recording, $9::text)
WHERE tenant_id = $1 AND call_sid = $2
RETURNING *
"""
# The turns, written only if the tenant's content policy (memory.content_policy's defaults when
# it has no agent row) is the one their text was prepared under ($8 redact, $9 keep); the
# policy as stored is returned either way.
_APPEND_TURNS = """
WITH policy AS (
    SELECT coalesce(a.pii_redaction, true) AS redact, coalesce(a.keep_transcripts, true) AS keep
    FROM (SELECT 1) one LEFT JOIN agent_configs a ON a.tenant_id = $1
), written AS (
    INSERT INTO call_turns (tenant_id, call_sid, seq, role, text, meta, at)
    SELECT $1, $2, t.seq, t.role, t.text, t.meta, t.at
    FROM unnest($3::int[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[])
         AS t(seq, role, text, meta, at), policy p
    WHERE p.redact = $8 AND p.keep = $9
    ON CONFLICT (tenant_id, call_sid, seq) DO NOTHING
)
SELECT redact, keep FROM policy
"""
_TURNS = """
SELECT seq, role, text, meta, at FROM call_turns
WHERE tenant_id = $1 AND call_sid = $2 ORDER BY seq
"""
_CALL_OVER = "SELECT call_over($1, $2, $3::text[])"  # 0031: one round trip
# A resume reopens the call (its outcome is the resumed session's to record).
_CLAIM_RESUME = """
UPDATE calls SET resumes = resumes + 1, outcome = NULL, end_detail = NULL, ended_at = NULL,
                 duration_ms = NULL
WHERE tenant_id = $1 AND call_sid = $2 AND resumes < $3
  AND (twilio_status IS NULL OR twilio_status <> ALL($4::text[]))
  AND started_at > now() - make_interval(secs => $5)
  AND (outcome IS NULL
       OR (outcome = 'stream_lost' AND ended_at > now() - make_interval(secs => $6)))
RETURNING resumes
"""
_GET_CALL = "SELECT * FROM calls WHERE tenant_id = $1 AND call_sid = $2"
_OPEN_CALLS = """
SELECT * FROM calls WHERE tenant_id = $1 AND ended_at IS NULL AND started_at < $2
ORDER BY started_at LIMIT $3
"""
_CLOSE_OPEN = """
UPDATE calls SET twilio_status = coalesce($3, twilio_status),
                 billed_seconds = coalesce($4, billed_seconds),
                 ended_at = coalesce($5, now()),
                 duration_ms = coalesce(duration_ms, $4 * 1000),
                 outcome = $6,
                 end_detail = $7
WHERE tenant_id = $1 AND call_sid = $2 AND ended_at IS NULL
RETURNING *
"""
_EVENT = """
INSERT INTO call_events (tenant_id, call_sid, kind, key, payload)
VALUES ($1, $2, $3, $4, $5::jsonb)
ON CONFLICT DO NOTHING
"""
_TWILIO_STATUS = """
UPDATE calls SET twilio_status = $3,
                 billed_seconds = coalesce($4, billed_seconds),
                 ended_at = CASE WHEN $5 THEN coalesce(ended_at, now()) ELSE ended_at END,
                 outcome = CASE WHEN $5 THEN coalesce(outcome, 'twilio_' || $3) ELSE outcome END
WHERE tenant_id = $1 AND call_sid = $2
  AND (twilio_status IS NULL
       OR twilio_status NOT IN ('completed', 'busy', 'failed', 'no-answer', 'canceled'))
RETURNING *
"""


def call_record(row: asyncpg.Record) -> CallRecord:
    """A calls row as a frozen record (shared with the admin call history)."""
    return CallRecord(
        tenant_id=str(row["tenant_id"]),
        call_sid=row["call_sid"],
        from_number=row["from_number"],
        to_number=row["to_number"],
        started_at=row["started_at"],
        answered_at=row["answered_at"],
        ended_at=row["ended_at"],
        outcome=row["outcome"],
        end_detail=row["end_detail"],
        twilio_status=row["twilio_status"],
        duration_ms=row["duration_ms"],
        webhook_ms=row["webhook_ms"],
        greeting_ms=row["greeting_ms"],
        transferred_to=row["transferred_to"],
        streams=row["streams"],
        language=row["language"],
        recording=row["recording"],
    )


def _call_data(call: CallRecord) -> dict[str, object]:
    """What the agency's systems are told about a call (outbox payloads)."""
    return {
        "call_sid": call.call_sid,
        "from": call.from_number,
        "to": call.to_number,
        "started_at": call.started_at.isoformat(),
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "outcome": call.outcome,
        "duration_ms": call.duration_ms,
        "transferred_to": call.transferred_to,
    }


async def _emit_ended(conn: Conn, tenant_id: str, call: CallRecord, queue: str) -> None:
    if call.ended_at is None:
        return
    if call.outcome == "warm_transfer" and call.twilio_status not in TERMINAL_STATUSES:
        return  # the caller holds: the call goes on, joined or back with the agent
    data = _call_data(call)
    await outbox.emit(conn, tenant_id, "call.ended", call.call_sid, data, queue=queue)
    if call.transferred_to and call.outcome == "transferred":
        await outbox.emit(conn, tenant_id, "transfer.completed", call.call_sid, data, queue=queue)


async def start_call(
    pool: asyncpg.Pool, tenant_id: str, call: CallStart, *, outbox_queue: str
) -> None:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            _START,
            uuid.UUID(tenant_id),
            call.call_sid,
            call.from_number,
            call.to_number,
            call.webhook_ms,
            call.recording,
        )
        if row is not None:  # a new call, not a replayed webhook
            data = _call_data(call_record(row))
            await outbox.emit(
                conn, tenant_id, "call.started", call.call_sid, data, queue=outbox_queue
            )


async def stream_connected(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> None:
    async with tenant_tx(pool, tenant_id) as conn:
        await conn.execute(_STREAM_CONNECTED, uuid.UUID(tenant_id), call_sid)


async def finish_call(
    pool: asyncpg.Pool, tenant_id: str, call_sid: str, end: CallEnd, *, outbox_queue: str
) -> None:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            _FINISH,
            uuid.UUID(tenant_id),
            call_sid,
            end.outcome,
            end.detail or None,
            end.duration_ms,
            end.greeting_ms,
            end.transferred_to,
            end.language,
            end.recording,
        )
        if row is None:
            return
        record = call_record(row)
        await _emit_ended(conn, tenant_id, record, outbox_queue)
        if end.emergency:  # who was told to dial 911, and whether they were put through
            changes = {"outcome": record.outcome, "transferred": record.outcome == "transferred"}
            await audit.write(conn, tenant_id, audit.AGENT, "call.emergency", call_sid, changes)
        if end.guardrails:  # answers cut for a quote, coverage advice or binding
            cut = {"cuts": len(end.guardrails), "kinds": sorted(set(end.guardrails))}
            await audit.write(conn, tenant_id, audit.AGENT, "call.guardrail", call_sid, cut)


async def append_turns(
    pool: asyncpg.Pool, tenant_id: str, call_sid: str, turns: Sequence[Turn]
) -> None:
    """One statement in the common case: the text is prepared under the policy this process
    last saw for the tenant, and the insert checks that policy still holds; when it changed,
    nothing was written and the turns are prepared again under the policy stored now."""
    if not turns:
        return
    tenant = uuid.UUID(tenant_id)
    policy = last_seen_policy(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        for _ in range(POLICY_RETRIES):
            row = await conn.fetchrow(
                _APPEND_TURNS,
                tenant,
                call_sid,
                [t.seq for t in turns],
                [t.role for t in turns],
                [policy.turn_text(t.text) for t in turns],
                [t.meta for t in turns],
                [t.at for t in turns],
                policy.redact,
                policy.keep_transcripts,
            )
            assert row is not None
            stored = ContentPolicy(redact=row["redact"], keep_transcripts=row["keep"])
            if stored == policy:
                return
            policy = seen_policy(tenant_id, stored)
        raise RuntimeError("the tenant's content policy kept changing while turns were written")


async def load_turns(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> list[Turn]:
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_TURNS, uuid.UUID(tenant_id), call_sid)
    return [
        Turn(
            seq=r["seq"],
            role=r["role"],
            text=r["text"],
            at=r["at"],
            meta=dict(r["meta"]),
        )
        for r in rows
    ]


async def get_call(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> CallRecord | None:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_GET_CALL, uuid.UUID(tenant_id), call_sid)
    return call_record(row) if row is not None else None


async def call_over(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> bool:
    """True once the call has ended: an outcome on its row, or Twilio's final status seen."""
    tenant = uuid.UUID(check_tenant_id(tenant_id))
    async with acquire(pool) as conn:
        over: bool = await conn.fetchval(_CALL_OVER, tenant, call_sid, sorted(TERMINAL_STATUSES))
    return over


async def claim_resume(
    pool: asyncpg.Pool,
    tenant_id: str,
    call_sid: str,
    *,
    max_resumes: int,
    max_age_s: float,
    lost_window_s: float,
) -> int | None:
    """Grant one resume of a call: its number (1, 2, ...), or None when the call is over, older
    than `max_age_s`, lost its stream more than `lost_window_s` ago, or used its resumes."""
    async with tenant_tx(pool, tenant_id) as conn:
        resumes: int | None = await conn.fetchval(
            _CLAIM_RESUME,
            uuid.UUID(tenant_id),
            call_sid,
            max_resumes,
            sorted(TERMINAL_STATUSES),
            float(max_age_s),
            float(lost_window_s),
        )
    return resumes


async def open_calls(
    pool: asyncpg.Pool, tenant_id: str, started_before: datetime, limit: int = 500
) -> list[CallRecord]:
    """The tenant's calls never closed that started before ``started_before``, oldest first."""
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_OPEN_CALLS, uuid.UUID(tenant_id), started_before, limit)
    return [call_record(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Closing:
    """How an open call is closed: Twilio's status and times when it has them."""

    outcome: str
    detail: str
    twilio_status: str | None = None
    duration_s: int | None = None
    ended_at: datetime | None = None


async def close_open_call(
    pool: asyncpg.Pool,
    tenant_id: str,
    call_sid: str,
    closing: Closing,
    post_call_queue: str,
    *,
    outbox_queue: str,
) -> bool:
    """Close a call left open (its end reported through the outbox) and queue its post-call
    job, in one transaction; False when it was closed meanwhile (nothing changes then)."""
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            _CLOSE_OPEN,
            uuid.UUID(tenant_id),
            call_sid,
            closing.twilio_status,
            closing.duration_s,
            closing.ended_at,
            closing.outcome,
            closing.detail,
        )
        if row is None:
            return False
        call = call_record(row)
        await _emit_ended(conn, tenant_id, call, outbox_queue)
        if not is_anonymous(call.from_number):
            await jobs.enqueue_on(
                conn, tenant_id, call_sid, call.from_number.strip(), post_call_queue
            )
    return True


async def record_event(
    pool: asyncpg.Pool,
    tenant_id: str,
    call_sid: str,
    kind: str,
    key: str,
    payload: dict[str, str],
) -> bool:
    """Store a callback once; True when it is new (False for a replay)."""
    async with tenant_tx(pool, tenant_id) as conn:
        status = await conn.execute(_EVENT, uuid.UUID(tenant_id), call_sid, kind, key, payload)
    return bool(status.endswith(" 1"))


async def apply_twilio_status(
    pool: asyncpg.Pool,
    tenant_id: str,
    call_sid: str,
    status: str,
    duration_s: int | None,
    *,
    outbox_queue: str,
) -> None:
    terminal = status in TERMINAL_STATUSES
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            _TWILIO_STATUS, uuid.UUID(tenant_id), call_sid, status, duration_s, terminal
        )
        if row is not None and terminal:
            await _emit_ended(conn, tenant_id, call_record(row), outbox_queue)
