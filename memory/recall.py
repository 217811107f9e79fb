"""Reading memory back: the caller context before the greeting, and semantic search. I/O: asyncpg.

The caller context is five small reads in one tenant transaction: profile, personality
rollup, the last 3 summaries, the caller's top-k memories and matching knowledge entries.

Two kinds of vector search, on purpose:
- One caller's memories are few (one row per stable key), so they are ranked exactly: the
  caller's rows come from the btree on (tenant, caller, ...) and are sorted by distance. An
  approximate index filtered down to one caller out of a million rows would starve top-k.
- Tenant-wide search (knowledge, and search without a caller) uses the HNSW indexes with
  `hnsw.iterative_scan = relaxed_order`, so the tenant filter (RLS plus the explicit
  predicate) keeps scanning the graph until k rows of this tenant are found. Results are
  re-sorted here because relaxed order may be slightly off.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

import asyncpg

from memory.caller_records import SearchHit
from memory.db import Conn, tenant_tx
from memory.personality import context_scores, stored_scores
from prompts.context import CallerContext, CallerProfile, CallSummary, KnowledgeItem, MemoryItem

if TYPE_CHECKING:
    from pgvector import Vector

CONTEXT_TIMEOUT_S = 2.0
SEARCH_TIMEOUT_S = 3.0
SUMMARIES = 3
KNOWLEDGE_K = 3
KNOWLEDGE_MIN_SCORE = 0.2
# Candidates per HNSW pass. A tenant holding ~1% of the rows needs a few hundred candidates
# for k matches in the first pass; fewer means more iterative passes (slower, and lower
# recall in the benchmark: ef 64 -> 0.77, ef 200 -> 0.96 recall@10 at 100 tenants).
EF_SEARCH = 200

_VECTOR_SETTINGS = """
SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),
       set_config('hnsw.ef_search', $1, true)
"""
_PROFILE = """
SELECT preferred_name, total_calls, first_call_at, last_call_at FROM caller_profiles
WHERE tenant_id = $1 AND caller_number = $2
"""
_PERSONALITY = """
SELECT averages, recent FROM personality_averages WHERE tenant_id = $1 AND caller_number = $2
"""
_SUMMARIES = """
SELECT call_at, summary, sentiment, resolution_status FROM call_summaries
WHERE tenant_id = $1 AND caller_number = $2
ORDER BY call_at DESC LIMIT $3
"""
# Exact ranking over one caller's rows (see module docstring); MATERIALIZED keeps the planner
# from walking the HNSW graph for a filter this selective.
_CALLER_MEMORIES_BY_VECTOR = """
WITH mine AS MATERIALIZED (
    SELECT memory_id, type, key, content, embedding, updated_at FROM memories
    WHERE tenant_id = $1 AND caller_number = $2 AND (expires_at IS NULL OR expires_at > now())
)
SELECT memory_id, type, key, content, updated_at, 1 - (embedding <=> $3::vector) AS score
FROM mine
ORDER BY embedding <=> $3::vector NULLS LAST, updated_at DESC
LIMIT $4
"""
_CALLER_MEMORIES_RECENT = """
SELECT memory_id, type, key, content, updated_at, NULL::float8 AS score FROM memories
WHERE tenant_id = $1 AND caller_number = $2 AND (expires_at IS NULL OR expires_at > now())
ORDER BY updated_at DESC, type, key
LIMIT $3
"""
_KNOWLEDGE = """
SELECT entry_id, kind, title, body, updated_at, 1 - (embedding <=> $2::vector) AS score
FROM knowledge_entries
WHERE tenant_id = $1 AND embedding IS NOT NULL
ORDER BY embedding <=> $2::vector
LIMIT $3
"""
_TENANT_MEMORIES = """
SELECT memory_id, caller_number, type, key, content, updated_at,
       1 - (embedding <=> $2::vector) AS score
FROM memories
WHERE tenant_id = $1 AND embedding IS NOT NULL AND (expires_at IS NULL OR expires_at > now())
ORDER BY embedding <=> $2::vector
LIMIT $3
"""
_CALLER_SUMMARIES = """
WITH theirs AS MATERIALIZED (
    SELECT call_sid, caller_number, summary, call_at, embedding FROM call_summaries
    WHERE tenant_id = $1 AND caller_number = $3 AND embedding IS NOT NULL
)
SELECT call_sid, caller_number, summary, call_at, 1 - (embedding <=> $2::vector) AS score
FROM theirs ORDER BY embedding <=> $2::vector LIMIT $4
"""
_TENANT_SUMMARIES = """
SELECT call_sid, caller_number, summary, call_at, 1 - (embedding <=> $2::vector) AS score
FROM call_summaries
WHERE tenant_id = $1 AND embedding IS NOT NULL
ORDER BY embedding <=> $2::vector
LIMIT $3
"""


async def _memories(
    conn: Conn, tenant: uuid.UUID, caller_number: str, vector: Vector | None, k: int
) -> tuple[MemoryItem, ...]:
    if vector is not None:
        rows = await conn.fetch(
            _CALLER_MEMORIES_BY_VECTOR, tenant, caller_number, vector, k, timeout=CONTEXT_TIMEOUT_S
        )
    else:
        rows = await conn.fetch(
            _CALLER_MEMORIES_RECENT, tenant, caller_number, k, timeout=CONTEXT_TIMEOUT_S
        )
    items = []
    for rank, r in enumerate(rows):
        # Without an agenda, recency stands in for relevance (newest first).
        score = float(r["score"]) if r["score"] is not None else 1.0 / (rank + 1)
        items.append(MemoryItem(type=r["type"], key=r["key"], value=r["content"], score=score))
    return tuple(items)


async def caller_context(
    pool: asyncpg.Pool,
    tenant_id: str,
    caller_number: str,
    *,
    agenda_vector: Vector | None,
    k: int,
) -> CallerContext:
    """Everything known about the caller; ``agenda_vector`` ranks memories and knowledge."""
    tenant = uuid.UUID(tenant_id)
    t = CONTEXT_TIMEOUT_S
    async with tenant_tx(pool, tenant_id, timeout=t) as conn:
        profile_row = await conn.fetchrow(_PROFILE, tenant, caller_number, timeout=t)
        personality_row = await conn.fetchrow(_PERSONALITY, tenant, caller_number, timeout=t)
        summary_rows = await conn.fetch(_SUMMARIES, tenant, caller_number, SUMMARIES, timeout=t)
        memories = await _memories(conn, tenant, caller_number, agenda_vector, k)
        knowledge_rows: list[asyncpg.Record] = []
        if agenda_vector is not None:
            await conn.execute(_VECTOR_SETTINGS, str(EF_SEARCH), timeout=t)
            knowledge_rows = await conn.fetch(
                _KNOWLEDGE, tenant, agenda_vector, KNOWLEDGE_K, timeout=t
            )
    profile = None
    if profile_row is not None:
        profile = CallerProfile(
            phone=caller_number,
            preferred_name=profile_row["preferred_name"],
            total_calls=profile_row["total_calls"],
            first_call_at=profile_row["first_call_at"],
            last_call_at=profile_row["last_call_at"],
        )
    personality: Mapping[str, float] = {}
    if personality_row is not None:
        personality = context_scores(
            stored_scores(personality_row["averages"]), stored_scores(personality_row["recent"])
        )
    knowledge = sorted(
        (
            KnowledgeItem(kind=r["kind"], title=r["title"], body=r["body"], score=float(r["score"]))
            for r in knowledge_rows
            if float(r["score"]) >= KNOWLEDGE_MIN_SCORE
        ),
        key=lambda item: -item.score,
    )
    return CallerContext(
        profile=profile,
        personality=personality,
        summaries=tuple(
            CallSummary(
                at=r["call_at"],
                summary=r["summary"],
                sentiment=r["sentiment"],
                resolution=r["resolution_status"],
            )
            for r in summary_rows
        ),
        memories=memories,
        knowledge=tuple(knowledge),
    )


async def search(
    pool: asyncpg.Pool,
    tenant_id: str,
    caller_number: str | None,
    vector: Vector,
    k: int,
    *,
    ef_search: int = EF_SEARCH,
) -> list[SearchHit]:
    """Top ``k`` over memories, call summaries and knowledge, by cosine similarity.
    ``ef_search`` trades speed for recall on the HNSW paths."""
    tenant = uuid.UUID(tenant_id)
    t = SEARCH_TIMEOUT_S
    hits: list[SearchHit] = []
    async with tenant_tx(pool, tenant_id, timeout=t) as conn:
        await conn.execute(_VECTOR_SETTINGS, str(max(ef_search, k)), timeout=t)
        if caller_number is not None:
            memory_rows = await conn.fetch(
                _CALLER_MEMORIES_BY_VECTOR, tenant, caller_number, vector, k, timeout=t
            )
            summary_rows = await conn.fetch(
                _CALLER_SUMMARIES, tenant, vector, caller_number, k, timeout=t
            )
        else:
            memory_rows = await conn.fetch(_TENANT_MEMORIES, tenant, vector, k, timeout=t)
            summary_rows = await conn.fetch(_TENANT_SUMMARIES, tenant, vector, k, timeout=t)
        knowledge_rows = await conn.fetch(_KNOWLEDGE, tenant, vector, k, timeout=t)
    for r in memory_rows:
        if r["score"] is None:
            continue
        hits.append(
            SearchHit(
                source="memory",
                ref=f"{r['type']}:{r['key']}",
                text=r["content"],
                score=float(r["score"]),
                at=r["updated_at"],
                caller_number=r.get("caller_number", caller_number),
            )
        )
    for r in summary_rows:
        hits.append(
            SearchHit(
                source="summary",
                ref=r["call_sid"],
                text=r["summary"],
                score=float(r["score"]),
                at=r["call_at"],
                caller_number=r["caller_number"],
            )
        )
    for r in knowledge_rows:
        hits.append(
            SearchHit(
                source="knowledge",
                ref=str(r["entry_id"]),
                text=f"{r['title']}: {r['body']}",
                score=float(r["score"]),
                at=r["updated_at"],
            )
        )
    hits.sort(key=lambda h: (-h.score, h.source, h.ref))
    return hits[:k]


async def search_knowledge(
    pool: asyncpg.Pool, tenant_id: str, vector: Vector, k: int, *, ef_search: int = EF_SEARCH
) -> list[SearchHit]:
    """Top ``k`` of the tenant's knowledge entries only (never a caller's data): what the
    agent may look up during any call. ``ref`` is the entry's title, for citing."""
    t = SEARCH_TIMEOUT_S
    async with tenant_tx(pool, tenant_id, timeout=t) as conn:
        await conn.execute(_VECTOR_SETTINGS, str(max(ef_search, k)), timeout=t)
        rows = await conn.fetch(_KNOWLEDGE, uuid.UUID(tenant_id), vector, k, timeout=t)
    return [
        SearchHit(
            source="knowledge",
            ref=r["title"],
            text=r["body"],
            score=float(r["score"]),
            at=r["updated_at"],
        )
        for r in rows
    ]
