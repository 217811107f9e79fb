"""The knowledge base as admins edit it: entries by id, created, changed and deleted one at a
time. I/O: asyncpg, on the `knowledge_entries` table of 0003.

An entry written here has no embedding until the memory side embeds it (text changed means the
old vector is wrong, so an edit clears it). Titles are unique per (tenant, kind): a clash raises
`TitleTaken`.
"""

from __future__ import annotations

import uuid

import asyncpg

from memory import audit
from memory.audit import Actor
from memory.caller_records import KnowledgeEntry
from memory.db import tenant_tx
from memory.errors import Duplicate

_LIST = """
SELECT entry_id, kind, title, body, updated_at FROM knowledge_entries
WHERE tenant_id = $1 AND ($2::text IS NULL OR kind = $2)
ORDER BY kind, title LIMIT $3
"""
_GET = """
SELECT entry_id, kind, title, body, updated_at FROM knowledge_entries
WHERE tenant_id = $1 AND entry_id = $2
"""
_INSERT = """
INSERT INTO knowledge_entries (tenant_id, kind, title, body) VALUES ($1, $2, $3, $4)
RETURNING entry_id, kind, title, body, updated_at
"""
_UPDATE = """
UPDATE knowledge_entries SET kind = $3, title = $4, body = $5,
       embedding = CASE WHEN (kind, title, body) = ($3, $4, $5) THEN embedding ELSE NULL END,
       updated_at = now()
WHERE tenant_id = $1 AND entry_id = $2
RETURNING entry_id, kind, title, body, updated_at
"""
_DELETE = "DELETE FROM knowledge_entries WHERE tenant_id = $1 AND entry_id = $2"


class TitleTaken(ValueError):
    """Another entry of the same kind already has this title."""


def _entry(row: asyncpg.Record) -> KnowledgeEntry:
    return KnowledgeEntry(
        entry_id=str(row["entry_id"]),
        kind=row["kind"],
        title=row["title"],
        body=row["body"],
        updated_at=row["updated_at"],
    )


async def list_entries(
    pool: asyncpg.Pool, tenant_id: str, *, kind: str | None, limit: int
) -> list[KnowledgeEntry]:
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_LIST, uuid.UUID(tenant_id), kind, limit)
    return [_entry(r) for r in rows]


async def get_entry(pool: asyncpg.Pool, tenant_id: str, entry_id: str) -> KnowledgeEntry | None:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_GET, uuid.UUID(tenant_id), uuid.UUID(entry_id))
    return _entry(row) if row is not None else None


async def create_entry(
    pool: asyncpg.Pool, tenant_id: str, kind: str, title: str, body: str, actor: Actor
) -> KnowledgeEntry:
    try:
        async with tenant_tx(pool, tenant_id) as conn:
            row = await conn.fetchrow(_INSERT, uuid.UUID(tenant_id), kind, title, body)
            assert row is not None
            entry = _entry(row)
            await audit.write(
                conn, tenant_id, actor, "knowledge.created", entry.entry_id, {"kind": kind}
            )
    except Duplicate as exc:
        raise TitleTaken(f"a {kind} entry with this title already exists") from exc
    return entry


async def update_entry(
    pool: asyncpg.Pool,
    tenant_id: str,
    entry_id: str,
    actor: Actor,
    *,
    kind: str,
    title: str,
    body: str,
) -> KnowledgeEntry | None:
    try:
        async with tenant_tx(pool, tenant_id) as conn:
            row = await conn.fetchrow(
                _UPDATE, uuid.UUID(tenant_id), uuid.UUID(entry_id), kind, title, body
            )
            if row is None:
                return None
            await audit.write(conn, tenant_id, actor, "knowledge.updated", entry_id)
    except Duplicate as exc:
        raise TitleTaken(f"a {kind} entry with this title already exists") from exc
    return _entry(row)


async def delete_entry(pool: asyncpg.Pool, tenant_id: str, entry_id: str, actor: Actor) -> bool:
    async with tenant_tx(pool, tenant_id) as conn:
        status = await conn.execute(_DELETE, uuid.UUID(tenant_id), uuid.UUID(entry_id))
        deleted = status.endswith(" 1")
        if deleted:
            await audit.write(conn, tenant_id, actor, "knowledge.deleted", entry_id)
    return deleted
