"""What admins see and correct about callers: profiles, personality, summaries, and editing or
deleting one memory. I/O: asyncpg, on the caller-memory tables of 0003.

Writing memories on the call path (upserts by stable key, embeddings) is memory.caller_memory's
job; here an admin corrects a value by id. A corrected memory loses its embedding (the text
changed), and the next post-call job of that caller embeds it again; its old value goes to
memory_history through the 0003 trigger, as with any other change. Forgetting a caller entirely,
recordings included, is memory.forget.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from memory import audit
from memory.audit import Actor
from memory.caller_records import JsonValue, StoredMemory, json_value
from memory.db import tenant_tx
from memory.personality import stored_scores

_PROFILES = """
SELECT caller_number, preferred_name, first_call_at, last_call_at, total_calls, preferences,
       created_at, updated_at, coalesce(last_call_at, created_at) AS sort_at
FROM caller_profiles
WHERE tenant_id = $1
  AND ($2::timestamptz IS NULL
       OR (coalesce(last_call_at, created_at), caller_number) < ($2, $3::text))
ORDER BY coalesce(last_call_at, created_at) DESC, caller_number DESC
LIMIT $4
"""
_PROFILE = """
SELECT caller_number, preferred_name, first_call_at, last_call_at, total_calls, preferences,
       created_at, updated_at, coalesce(last_call_at, created_at) AS sort_at
FROM caller_profiles WHERE tenant_id = $1 AND caller_number = $2
"""
_PERSONALITY = """
SELECT calls, averages, recent, trend, updated_at FROM personality_averages
WHERE tenant_id = $1 AND caller_number = $2
"""
_SUMMARIES = """
SELECT call_sid, call_at, summary, key_topics, sentiment, resolution_status, duration_ms
FROM call_summaries WHERE tenant_id = $1 AND caller_number = $2
ORDER BY call_at DESC LIMIT $3
"""
_COUNTS = """
SELECT (SELECT count(*) FROM calls WHERE tenant_id = $1 AND from_number = $2) AS calls,
       (SELECT count(*) FROM memories WHERE tenant_id = $1 AND caller_number = $2) AS memories
"""
_UPDATE_MEMORY = """
UPDATE memories SET value = $4::jsonb, content = $5, embedding = NULL, last_seen_at = now(),
       expires_at = CASE WHEN $6 THEN NULL ELSE expires_at END
WHERE tenant_id = $1 AND caller_number = $2 AND memory_id = $3
RETURNING memory_id, type, key, value, content, version, source_call_sid, expires_at,
          updated_at, embedding IS NOT NULL AS has_embedding
"""
_DELETE_MEMORY = """
DELETE FROM memories WHERE tenant_id = $1 AND caller_number = $2 AND memory_id = $3
"""


@dataclass(frozen=True, slots=True)
class CallerProfileView:
    caller_number: str = field(repr=False)
    preferred_name: str | None = field(repr=False)
    first_call_at: datetime | None
    last_call_at: datetime | None
    total_calls: int
    preferences: dict[str, Any] = field(repr=False)
    created_at: datetime
    updated_at: datetime
    sort_at: datetime


@dataclass(frozen=True, slots=True)
class PersonalityView:
    calls: int
    averages: dict[str, float]
    recent: dict[str, float]
    trend: dict[str, float]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SummaryView:
    call_sid: str
    call_at: datetime
    summary: str = field(repr=False)
    key_topics: tuple[str, ...]
    sentiment: str | None
    resolution_status: str | None
    duration_ms: int | None


@dataclass(frozen=True, slots=True)
class CallerDetail:
    caller_number: str = field(repr=False)
    profile: CallerProfileView | None
    personality: PersonalityView | None
    summaries: tuple[SummaryView, ...]
    calls: int
    memories: int


def _profile(row: asyncpg.Record) -> CallerProfileView:
    return CallerProfileView(
        caller_number=row["caller_number"],
        preferred_name=row["preferred_name"],
        first_call_at=row["first_call_at"],
        last_call_at=row["last_call_at"],
        total_calls=row["total_calls"],
        preferences=row["preferences"] or {},
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        sort_at=row["sort_at"],
    )


def _memory(row: asyncpg.Record) -> StoredMemory:
    return StoredMemory(
        memory_id=str(row["memory_id"]),
        type=row["type"],
        key=row["key"],
        value=json_value(row["value"]),
        content=row["content"],
        version=row["version"],
        source_call_sid=row["source_call_sid"],
        expires_at=row["expires_at"],
        updated_at=row["updated_at"],
        has_embedding=row["has_embedding"],
    )


async def list_profiles(
    pool: asyncpg.Pool, tenant_id: str, *, after: tuple[datetime, str] | None, limit: int
) -> list[CallerProfileView]:
    """Most recent callers first; `after` is the (sort_at, caller_number) of the last seen."""
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(
            _PROFILES,
            uuid.UUID(tenant_id),
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
    return [_profile(r) for r in rows]


async def caller_detail(
    pool: asyncpg.Pool, tenant_id: str, caller_number: str, *, summaries: int = 20
) -> CallerDetail | None:
    """Profile, personality and recent summaries; None when the tenant knows nothing of them."""
    tenant = uuid.UUID(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        profile = await conn.fetchrow(_PROFILE, tenant, caller_number)
        personality = await conn.fetchrow(_PERSONALITY, tenant, caller_number)
        summary_rows = await conn.fetch(_SUMMARIES, tenant, caller_number, summaries)
        counts = await conn.fetchrow(_COUNTS, tenant, caller_number)
    assert counts is not None
    if profile is None and not summary_rows and counts["calls"] == 0 and counts["memories"] == 0:
        return None
    return CallerDetail(
        caller_number=caller_number,
        profile=_profile(profile) if profile is not None else None,
        personality=(
            PersonalityView(
                calls=personality["calls"],
                averages=stored_scores(personality["averages"]),
                recent=stored_scores(personality["recent"]),
                trend=stored_scores(personality["trend"]),
                updated_at=personality["updated_at"],
            )
            if personality is not None
            else None
        ),
        summaries=tuple(
            SummaryView(
                call_sid=r["call_sid"],
                call_at=r["call_at"],
                summary=r["summary"],
                key_topics=tuple(r["key_topics"] or ()),
                sentiment=r["sentiment"],
                resolution_status=r["resolution_status"],
                duration_ms=r["duration_ms"],
            )
            for r in summary_rows
        ),
        calls=counts["calls"],
        memories=counts["memories"],
    )


async def update_memory(
    pool: asyncpg.Pool,
    tenant_id: str,
    caller_number: str,
    memory_id: str,
    actor: Actor,
    *,
    value: JsonValue,
    content: str,
    keep_forever: bool = False,
) -> StoredMemory | None:
    """Correct one memory's value and text (history keeps the old one)."""
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            _UPDATE_MEMORY,
            uuid.UUID(tenant_id),
            caller_number,
            uuid.UUID(memory_id),
            value,
            content,
            keep_forever,
        )
        if row is None:
            return None
        await audit.write(conn, tenant_id, actor, "memory.updated", memory_id)
    return _memory(row)


async def delete_memory(
    pool: asyncpg.Pool, tenant_id: str, caller_number: str, memory_id: str, actor: Actor
) -> bool:
    async with tenant_tx(pool, tenant_id) as conn:
        status = await conn.execute(
            _DELETE_MEMORY, uuid.UUID(tenant_id), caller_number, uuid.UUID(memory_id)
        )
        deleted = status.endswith(" 1")
        if deleted:
            await audit.write(conn, tenant_id, actor, "memory.deleted", memory_id)
    return deleted
