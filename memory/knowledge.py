"""The agency's knowledge base: facts, rules, procedures, FAQs, with embeddings. I/O: asyncpg.

One entry per (tenant, kind, title): saving a title again replaces its body and embedding.
Entries reach the model through the caller context when they match the tenant's agenda.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from memory.caller_records import KNOWLEDGE_KINDS, KnowledgeEntry
from memory.db import tenant_tx
from memory.embeddings import as_vector, store_vectors

_UPSERT = """
INSERT INTO knowledge_entries (tenant_id, kind, title, body, embedding)
VALUES ($1, $2, $3, $4, $5::vector)
ON CONFLICT (tenant_id, kind, title) DO UPDATE SET
    body = EXCLUDED.body, embedding = EXCLUDED.embedding, updated_at = now()
RETURNING entry_id
"""
_LIST = """
SELECT entry_id, kind, title, body, updated_at FROM knowledge_entries
WHERE tenant_id = $1 ORDER BY kind, title
"""
_DELETE = "DELETE FROM knowledge_entries WHERE tenant_id = $1 AND entry_id = $2"
_MISSING = """
SELECT entry_id, title, body FROM knowledge_entries
WHERE tenant_id = $1 AND embedding IS NULL ORDER BY updated_at DESC LIMIT $2
"""
_SET_EMBEDDING = """
UPDATE knowledge_entries SET embedding = $5::vector
WHERE tenant_id = $1 AND entry_id = $2 AND title = $3 AND body = $4 AND embedding IS NULL
"""


def check_entry(kind: str, title: str, body: str) -> None:
    if kind not in KNOWLEDGE_KINDS:
        raise ValueError(f"knowledge kind must be one of {sorted(KNOWLEDGE_KINDS)}")
    if not 1 <= len(title.strip()) <= 200 or not 1 <= len(body.strip()) <= 8000:
        raise ValueError("knowledge needs a title (1-200 chars) and a body (1-8000 chars)")


async def save_entry(
    pool: asyncpg.Pool,
    tenant_id: str,
    kind: str,
    title: str,
    body: str,
    embedding: Sequence[float] | None,
) -> str:
    check_entry(kind, title, body)
    async with tenant_tx(pool, tenant_id) as conn:
        entry_id = await conn.fetchval(
            _UPSERT,
            uuid.UUID(tenant_id),
            kind,
            title.strip(),
            body.strip(),
            as_vector(embedding) if embedding is not None else None,
        )
    return str(entry_id)


async def list_entries(pool: asyncpg.Pool, tenant_id: str) -> list[KnowledgeEntry]:
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_LIST, uuid.UUID(tenant_id))
    return [
        KnowledgeEntry(
            entry_id=str(r["entry_id"]),
            kind=r["kind"],
            title=r["title"],
            body=r["body"],
            updated_at=r["updated_at"],
        )
        for r in rows
    ]


def entry_text(title: str, body: str) -> str:
    """What gets embedded for an entry."""
    return f"{title}: {body}"


async def missing_embeddings(
    pool: asyncpg.Pool, tenant_id: str, limit: int = 50
) -> list[tuple[str, str, str]]:
    """(entry_id, title, body) of entries saved without a vector (e.g. by the admin API)."""
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_MISSING, uuid.UUID(tenant_id), limit)
    return [(str(r["entry_id"]), r["title"], r["body"]) for r in rows]


async def fill_embeddings(
    pool: asyncpg.Pool, tenant_id: str, filled: Sequence[tuple[str, str, str, Sequence[float]]]
) -> None:
    """Store vectors for (entry_id, title, body, vector); skipped where the entry changed."""
    rows = [
        (uuid.UUID(tenant_id), uuid.UUID(eid), title, body, as_vector(vec))
        for eid, title, body, vec in filled
    ]
    await store_vectors(pool, tenant_id, _SET_EMBEDDING, rows)


async def delete_entry(pool: asyncpg.Pool, tenant_id: str, entry_id: str) -> bool:
    async with tenant_tx(pool, tenant_id) as conn:
        status = await conn.execute(_DELETE, uuid.UUID(tenant_id), uuid.UUID(entry_id))
    return bool(status.endswith(" 1"))
