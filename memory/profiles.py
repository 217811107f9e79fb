"""What a finished call teaches: summary, personality scores and rollup, the caller's profile,
and the consolidation ledger. I/O: asyncpg, inside the caller's tenant transaction.

Writes are keyed by call (`ON CONFLICT DO NOTHING`); the profile's `total_calls` increment is
only ever run in the transaction that also marks the call's job done (memory.jobs.finish), so
a retried job cannot count a call twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

import asyncpg

from memory.call_templates import TemplateResult
from memory.caller_records import CallFacts, PersonalityRollup
from memory.content_policy import content_policy
from memory.db import Conn, tenant_tx
from memory.embeddings import as_vector
from memory.personality import TREND_CALLS, rollup, stored_scores

_CALL_FACTS = """
SELECT call_sid, started_at, duration_ms, ended_at IS NOT NULL AS ended FROM calls
WHERE tenant_id = $1 AND call_sid = $2
"""
_SUMMARY = """
INSERT INTO call_summaries (tenant_id, call_sid, caller_number, call_at, summary, key_topics,
                            key_variables, sentiment, resolution_status, duration_ms, embedding,
                            template, template_fields)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11::vector, $12, $13::jsonb)
ON CONFLICT (tenant_id, call_sid) DO NOTHING
"""
_METRICS = """
INSERT INTO personality_metrics (tenant_id, call_sid, caller_number, call_at, scores)
VALUES ($1, $2, $3, $4, $5::jsonb)
ON CONFLICT (tenant_id, call_sid) DO NOTHING
"""
_AVERAGES = """
SELECT s.trait, avg(s.score::float8) AS average, count(DISTINCT m.call_sid) AS calls
FROM personality_metrics m, jsonb_each_text(m.scores) AS s(trait, score)
WHERE m.tenant_id = $1 AND m.caller_number = $2
GROUP BY s.trait
"""
_LATEST = """
SELECT scores FROM personality_metrics WHERE tenant_id = $1 AND caller_number = $2
ORDER BY call_at DESC LIMIT $3
"""
_ROLLUP = """
INSERT INTO personality_averages (tenant_id, caller_number, calls, averages, recent, trend)
VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb)
ON CONFLICT (tenant_id, caller_number) DO UPDATE SET
    calls = EXCLUDED.calls, averages = EXCLUDED.averages, recent = EXCLUDED.recent,
    trend = EXCLUDED.trend, updated_at = now()
"""
_COUNT_CALL = """
INSERT INTO caller_profiles (tenant_id, caller_number, preferred_name, first_call_at,
                             last_call_at, total_calls, preferences)
VALUES ($1, $2, $3, $4, $4, 1, $5::jsonb)
ON CONFLICT (tenant_id, caller_number) DO UPDATE SET
    preferred_name = coalesce(EXCLUDED.preferred_name, caller_profiles.preferred_name),
    first_call_at = least(caller_profiles.first_call_at, EXCLUDED.first_call_at),
    last_call_at = greatest(caller_profiles.last_call_at, EXCLUDED.last_call_at),
    total_calls = caller_profiles.total_calls + 1,
    preferences = caller_profiles.preferences || EXCLUDED.preferences,
    updated_at = now()
"""
_CONSOLIDATED = """
SELECT items FROM memory_consolidations WHERE tenant_id = $1 AND call_sid = $2 AND digest = $3
"""
_RECORD_CONSOLIDATION = """
INSERT INTO memory_consolidations (tenant_id, call_sid, digest, caller_number, first_seq,
                                   last_seq, items)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant_id, call_sid, digest) DO NOTHING
RETURNING items
"""


async def call_facts(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> CallFacts | None:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_CALL_FACTS, uuid.UUID(tenant_id), call_sid)
    if row is None:
        return None
    return CallFacts(row["call_sid"], row["started_at"], row["duration_ms"], row["ended"])


async def save_summary(
    conn: Conn,
    tenant_id: str,
    caller_number: str,
    call: CallFacts,
    *,
    summary: str,
    key_topics: Sequence[str],
    key_variables: Mapping[str, object],
    sentiment: str,
    resolution_status: str,
    embedding: Sequence[float] | None,
    template: TemplateResult | None = None,
) -> None:
    """Store the call's summary, with the template chosen for it and its fields, under the
    tenant's content policy (redacted; none in no-transcripts mode)."""
    policy = await content_policy(conn, tenant_id)
    if not policy.keep_transcripts:
        return
    await conn.execute(
        _SUMMARY,
        uuid.UUID(tenant_id),
        call.call_sid,
        caller_number,
        call.started_at,
        policy.text(summary),
        [policy.text(topic) for topic in key_topics],
        policy.value(dict(key_variables)),
        sentiment,
        resolution_status,
        call.duration_ms,
        as_vector(embedding) if embedding is not None else None,
        template.key if template is not None else None,
        policy.value(template.fields) if template is not None else {},
    )


async def save_personality(
    conn: Conn,
    tenant_id: str,
    caller_number: str,
    call: CallFacts,
    scores: Mapping[str, float],
) -> PersonalityRollup:
    """Store one call's scores and recompute the caller's rollup from all of them."""
    tenant = uuid.UUID(tenant_id)
    await conn.execute(
        _METRICS, tenant, call.call_sid, caller_number, call.started_at, dict(scores)
    )
    rows = await conn.fetch(_AVERAGES, tenant, caller_number)
    averages = {r["trait"]: float(r["average"]) for r in rows}
    calls = max((int(r["calls"]) for r in rows), default=0)
    latest = await conn.fetch(_LATEST, tenant, caller_number, TREND_CALLS)
    result = rollup(calls, averages, [stored_scores(r["scores"]) for r in latest])
    await conn.execute(
        _ROLLUP,
        tenant,
        caller_number,
        result.calls,
        result.averages,
        result.recent,
        result.trend,
    )
    return result


async def count_call(
    conn: Conn,
    tenant_id: str,
    caller_number: str,
    call_at: datetime,
    *,
    preferred_name: str | None,
    preferences: Mapping[str, str],
) -> None:
    """One more call in the caller's profile (first/last call, name and preferences learned)."""
    await conn.execute(
        _COUNT_CALL,
        uuid.UUID(tenant_id),
        caller_number,
        preferred_name[:200] if preferred_name else None,
        call_at,
        dict(preferences),
    )


async def consolidated(conn: Conn, tenant_id: str, call_sid: str, digest: str) -> int | None:
    """Items stored by an earlier consolidation of exactly these turns, or None."""
    value = await conn.fetchval(_CONSOLIDATED, uuid.UUID(tenant_id), call_sid, digest)
    return int(value) if value is not None else None


async def record_consolidation(
    conn: Conn,
    tenant_id: str,
    call_sid: str,
    digest: str,
    caller_number: str,
    seqs: tuple[int, int],
    items: int,
) -> bool:
    """Claim this consolidation; False when a concurrent one got there first (roll back)."""
    value = await conn.fetchval(
        _RECORD_CONSOLIDATION,
        uuid.UUID(tenant_id),
        call_sid,
        digest,
        caller_number,
        seqs[0],
        seqs[1],
        items,
    )
    return value is not None
