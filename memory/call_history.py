"""The call history admins browse: filtered, keyset-paginated call lists and one call in full
(ordered transcript, tool calls, timings, summary, sentiment, recordings). I/O: asyncpg.

Pages are ordered newest first by (started_at, call_sid) and continue after the last row seen,
so a page costs the same at row 100 000 as at row 1 (calls_tenant_started and the 0004 indexes).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from memory import recordings
from memory.call_records import CallRecord, Turn
from memory.calls import call_record
from memory.db import tenant_tx
from memory.recordings import Recording

_LIST = """
SELECT tenant_id, call_sid, from_number, to_number, started_at, answered_at, ended_at, outcome,
       end_detail, twilio_status, duration_ms, webhook_ms, greeting_ms, transferred_to, streams,
       language, recording
FROM calls
WHERE tenant_id = $1
  AND ($2::timestamptz IS NULL OR started_at >= $2)
  AND ($3::timestamptz IS NULL OR started_at < $3)
  AND ($4::text IS NULL OR from_number = $4)
  AND ($5::text IS NULL OR outcome = $5)
  AND ($6::boolean IS NULL OR (transferred_to IS NOT NULL) = $6)
  AND ($7::timestamptz IS NULL OR (started_at, call_sid) < ($7, $8::text))
ORDER BY started_at DESC, call_sid DESC
LIMIT $9
"""
_CALL = """
SELECT tenant_id, call_sid, from_number, to_number, started_at, answered_at, ended_at, outcome,
       end_detail, twilio_status, duration_ms, webhook_ms, greeting_ms, transferred_to, streams,
       language, recording
FROM calls WHERE tenant_id = $1 AND call_sid = $2
"""
_TURNS = """
SELECT seq, role, text, meta, at FROM call_turns WHERE tenant_id = $1 AND call_sid = $2
ORDER BY seq
"""
_SUMMARY = """
SELECT summary, key_topics, key_variables, sentiment, resolution_status, template, template_fields
FROM call_summaries WHERE tenant_id = $1 AND call_sid = $2
"""
_PERSONALITY = "SELECT scores FROM personality_metrics WHERE tenant_id = $1 AND call_sid = $2"


@dataclass(frozen=True, slots=True)
class CallFilter:
    since: datetime | None = None
    until: datetime | None = None
    caller: str | None = field(default=None, repr=False)
    outcome: str | None = None
    transferred: bool | None = None


@dataclass(frozen=True, slots=True)
class CallSummaryView:
    summary: str = field(repr=False)
    key_topics: tuple[str, ...]
    key_variables: dict[str, Any] = field(repr=False)
    sentiment: str | None
    resolution_status: str | None
    template: str | None = None  # the call template chosen for it (memory.call_templates)
    template_fields: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class CallDetail:
    call: CallRecord
    turns: tuple[Turn, ...]
    summary: CallSummaryView | None
    personality: dict[str, float]
    recordings: tuple[Recording, ...]


_call = call_record


async def list_calls(
    pool: asyncpg.Pool,
    tenant_id: str,
    filters: CallFilter,
    *,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[CallRecord]:
    """Newest first; `after` is the (started_at, call_sid) of the last call already seen."""
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(
            _LIST,
            uuid.UUID(tenant_id),
            filters.since,
            filters.until,
            filters.caller,
            filters.outcome,
            filters.transferred,
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
    return [_call(r) for r in rows]


async def call_detail(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> CallDetail | None:
    tenant = uuid.UUID(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_CALL, tenant, call_sid)
        if row is None:
            return None
        turn_rows = await conn.fetch(_TURNS, tenant, call_sid)
        summary_row = await conn.fetchrow(_SUMMARY, tenant, call_sid)
        scores = await conn.fetchval(_PERSONALITY, tenant, call_sid)
        stored = await recordings.for_call(conn, tenant_id, call_sid)
    summary = None
    if summary_row is not None:
        summary = CallSummaryView(
            summary=summary_row["summary"],
            key_topics=tuple(summary_row["key_topics"] or ()),
            key_variables=summary_row["key_variables"] or {},
            sentiment=summary_row["sentiment"],
            resolution_status=summary_row["resolution_status"],
            template=summary_row["template"],
            template_fields=summary_row["template_fields"] or {},
        )
    personality = scores if scores is not None else {}
    return CallDetail(
        call=_call(row),
        turns=tuple(
            Turn(seq=r["seq"], role=r["role"], text=r["text"], at=r["at"], meta=r["meta"])
            for r in turn_rows
        ),
        summary=summary,
        personality={str(k): float(v) for k, v in (personality or {}).items()},
        recordings=tuple(stored),
    )
