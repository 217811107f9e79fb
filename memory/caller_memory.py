"""Keyed caller memories, their history, and forgetting a caller. I/O: asyncpg.

A memory is one row per stable `(tenant, caller, type, key)`. Writing a new value for a key
updates the row; the `memories_history` trigger (0003) copies the old value to
`memory_history` first, so nothing said is ever silently lost. Writing the same value again
changes nothing but `last_seen_at` (and keeps its embedding). Functions taking `conn` run inside
the caller's tenant transaction; the others open one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from memory.caller_records import MemoryVersion, MemoryWrite, StoredMemory, json_value
from memory.content_policy import content_policy
from memory.db import Conn, tenant_tx
from memory.embeddings import as_vector, store_vectors


def check_caller(caller_number: str) -> str:
    number = caller_number.strip()
    if not 1 <= len(number) <= 64:
        raise ValueError("caller_number must be 1-64 characters")
    return number


def memory_text(memory_type: str, key: str, content: str) -> str:
    """What gets embedded for a memory: its type and key give the vector its topic."""
    topic = key.replace(":", " ").replace("-", " ").replace("_", " ")
    return f"{memory_type} {topic}: {content}"


_UPSERT = """
INSERT INTO memories AS m (tenant_id, caller_number, type, key, value, content, embedding,
                           source_call_sid, expires_at)
SELECT $1, $2, t.type, t.key, t.value, t.content, t.embedding, $3,
       CASE WHEN t.ttl_days IS NULL THEN NULL ELSE now() + make_interval(days => t.ttl_days) END
FROM unnest($4::text[], $5::text[], $6::jsonb[], $7::text[], $8::vector[], $9::int[])
     AS t(type, key, value, content, embedding, ttl_days)
ON CONFLICT (tenant_id, caller_number, type, key) DO UPDATE SET
    value = EXCLUDED.value,
    content = EXCLUDED.content,
    embedding = CASE WHEN m.value = EXCLUDED.value THEN coalesce(EXCLUDED.embedding, m.embedding)
                     ELSE EXCLUDED.embedding END,
    source_call_sid = CASE WHEN m.value = EXCLUDED.value THEN m.source_call_sid
                           ELSE EXCLUDED.source_call_sid END,
    expires_at = EXCLUDED.expires_at,
    last_seen_at = now()
"""
_LIST = """
SELECT memory_id, type, key, value, content, version, source_call_sid, expires_at, updated_at,
       embedding IS NOT NULL AS has_embedding
FROM memories
WHERE tenant_id = $1 AND caller_number = $2 AND (expires_at IS NULL OR expires_at > now())
ORDER BY type, key
"""
_HISTORY = """
SELECT h.version, h.value, h.content, h.source_call_sid, h.valid_from, h.replaced_at
FROM memory_history h JOIN memories m USING (tenant_id, memory_id)
WHERE m.tenant_id = $1 AND m.caller_number = $2 AND m.type = $3 AND m.key = $4
ORDER BY h.version
"""
_MISSING_EMBEDDINGS = """
SELECT memory_id, type, key, content FROM memories
WHERE tenant_id = $1 AND caller_number = $2 AND embedding IS NULL
ORDER BY updated_at DESC LIMIT $3
"""
_SET_EMBEDDING = """
UPDATE memories SET embedding = $4::vector
WHERE tenant_id = $1 AND memory_id = $2 AND content = $3 AND embedding IS NULL
"""
_PURGE_EXPIRED = """
DELETE FROM memories WHERE tenant_id = $1 AND caller_number = $2 AND expires_at <= now()
"""
_SET_PREFERRED_NAME = """
INSERT INTO caller_profiles (tenant_id, caller_number, preferred_name) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, caller_number) DO UPDATE SET
    preferred_name = EXCLUDED.preferred_name, updated_at = now()
"""

FORGET_TIMEOUT_S = 30.0  # per statement: a caller with years of calls has many turns

# Everything of one caller, children before parents. Their calls stay as anonymous rows
# (outcome, duration) so the agency's call statistics still add up.
_FORGET = (
    """DELETE FROM call_turns t USING calls c
       WHERE c.tenant_id = $1 AND c.from_number = $2
         AND t.tenant_id = c.tenant_id AND t.call_sid = c.call_sid""",
    """DELETE FROM call_events e USING calls c
       WHERE c.tenant_id = $1 AND c.from_number = $2
         AND e.tenant_id = c.tenant_id AND e.call_sid = c.call_sid""",
    "DELETE FROM memories WHERE tenant_id = $1 AND caller_number = $2",
    "DELETE FROM call_summaries WHERE tenant_id = $1 AND caller_number = $2",
    "DELETE FROM personality_metrics WHERE tenant_id = $1 AND caller_number = $2",
    "DELETE FROM personality_averages WHERE tenant_id = $1 AND caller_number = $2",
    "DELETE FROM memory_consolidations WHERE tenant_id = $1 AND caller_number = $2",
    "DELETE FROM post_call_jobs WHERE tenant_id = $1 AND caller_number = $2",
    "DELETE FROM messages WHERE tenant_id = $1 AND caller_number = $2",
    # What the agency's systems were (or were about to be) told about them: their log rows and
    # anything not sent yet, which must now never leave.
    """DELETE FROM outbox WHERE tenant_id = $1
         AND (payload->'data'->>'from' = $2 OR payload->'data'->>'caller_number' = $2)""",
    "DELETE FROM caller_identifiers WHERE tenant_id = $1 AND caller_number = $2",
    "DELETE FROM verification_attempts WHERE tenant_id = $1 AND caller_number = $2",
    "DELETE FROM caller_profiles WHERE tenant_id = $1 AND caller_number = $2",
    "UPDATE calls SET from_number = 'forgotten' WHERE tenant_id = $1 AND from_number = $2",
)


async def upsert(
    conn: Conn,
    tenant_id: str,
    caller_number: str,
    call_sid: str | None,
    writes: Sequence[MemoryWrite],
    embeddings: Sequence[Sequence[float] | None],
) -> int:
    """Upsert ``writes`` (one per (type, key), the last wins) in the open transaction. Taken
    from a call (``call_sid``) they follow the tenant's content policy: redacted, or in
    no-transcripts mode not stored at all (0 returned)."""
    if len(embeddings) != len(writes):
        raise ValueError("one embedding (or None) per write")
    policy = await content_policy(conn, tenant_id)
    if call_sid is not None and not policy.keep_transcripts:
        return 0
    unique: dict[tuple[str, str], tuple[MemoryWrite, Sequence[float] | None]] = {}
    for write, vector in zip(writes, embeddings, strict=True):
        unique[(write.type, write.key)] = (write, vector)
    if not unique:
        return 0
    rows = list(unique.values())
    await conn.execute(
        _UPSERT,
        uuid.UUID(tenant_id),
        caller_number,
        call_sid,
        [w.type for w, _ in rows],
        [w.key for w, _ in rows],
        [policy.value(w.value) for w, _ in rows],
        [policy.text(w.content) for w, _ in rows],
        [as_vector(v) if v is not None else None for _, v in rows],
        [w.ttl_days for w, _ in rows],
    )
    return len(rows)


async def purge_expired(conn: Conn, tenant_id: str, caller_number: str) -> None:
    await conn.execute(_PURGE_EXPIRED, uuid.UUID(tenant_id), caller_number)


async def set_preferred_name(conn: Conn, tenant_id: str, caller_number: str, name: str) -> None:
    await conn.execute(_SET_PREFERRED_NAME, uuid.UUID(tenant_id), caller_number, name[:200])


async def list_memories(
    pool: asyncpg.Pool, tenant_id: str, caller_number: str
) -> list[StoredMemory]:
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_LIST, uuid.UUID(tenant_id), caller_number)
    return [
        StoredMemory(
            memory_id=str(r["memory_id"]),
            type=r["type"],
            key=r["key"],
            value=json_value(r["value"]),
            content=r["content"],
            version=r["version"],
            source_call_sid=r["source_call_sid"],
            expires_at=r["expires_at"],
            updated_at=r["updated_at"],
            has_embedding=r["has_embedding"],
        )
        for r in rows
    ]


async def history(
    pool: asyncpg.Pool, tenant_id: str, caller_number: str, memory_type: str, key: str
) -> list[MemoryVersion]:
    """Earlier values of one memory, oldest first."""
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_HISTORY, uuid.UUID(tenant_id), caller_number, memory_type, key)
    return [
        MemoryVersion(
            version=r["version"],
            value=json_value(r["value"]),
            content=r["content"],
            source_call_sid=r["source_call_sid"],
            valid_from=r["valid_from"],
            replaced_at=r["replaced_at"],
        )
        for r in rows
    ]


async def missing_embeddings(
    pool: asyncpg.Pool, tenant_id: str, caller_number: str, limit: int = 100
) -> list[tuple[str, str, str, str]]:
    """(memory_id, type, key, content) of memories stored without an embedding."""
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_MISSING_EMBEDDINGS, uuid.UUID(tenant_id), caller_number, limit)
    return [(str(r["memory_id"]), r["type"], r["key"], r["content"]) for r in rows]


async def fill_embeddings(
    pool: asyncpg.Pool, tenant_id: str, filled: Sequence[tuple[str, str, Sequence[float]]]
) -> None:
    """Store embeddings for (memory_id, content, vector); skipped where content changed since."""
    rows = [
        (uuid.UUID(tenant_id), uuid.UUID(mid), content, as_vector(vec))
        for mid, content, vec in filled
    ]
    await store_vectors(pool, tenant_id, _SET_EMBEDDING, rows)


async def forget_rows(
    conn: Conn, tenant_id: str, caller_number: str, *, timeout: float = FORGET_TIMEOUT_S
) -> int:
    """Delete everything the tenant holds about this caller in the open transaction (their
    calls become anonymous rows); how many rows were deleted or anonymised."""
    affected = 0
    for statement in _FORGET:
        status = await conn.execute(statement, uuid.UUID(tenant_id), caller_number, timeout=timeout)
        affected += int(status.rsplit(" ", 1)[-1])
    return affected


async def forget_caller(pool: asyncpg.Pool, tenant_id: str, caller_number: str) -> None:
    """Delete everything the tenant holds about this caller, atomically (recordings aside:
    the admin API's memory.forget.forget_caller takes those too)."""
    async with tenant_tx(pool, tenant_id) as conn:
        await forget_rows(conn, tenant_id, caller_number)
