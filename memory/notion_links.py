"""The tenant's Notion link (sealed integration token, database ids) and which Notion page
holds which of our objects. I/O: asyncpg, on the tables of 0011; admin changes are audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from memory import audit
from memory.audit import Actor
from memory.db import tenant_tx

_GET = """
SELECT token_box, callers_db, calls_db, messages_db, tasks_db, enabled, updated_at
FROM notion_links WHERE tenant_id = $1
"""
_SET = """
INSERT INTO notion_links (tenant_id, token_box, callers_db, calls_db, messages_db, tasks_db)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (tenant_id) DO UPDATE SET token_box = EXCLUDED.token_box,
    callers_db = EXCLUDED.callers_db, calls_db = EXCLUDED.calls_db,
    messages_db = EXCLUDED.messages_db, tasks_db = EXCLUDED.tasks_db,
    enabled = true, updated_at = now()
"""
_DELETE = "DELETE FROM notion_links WHERE tenant_id = $1"
_FORGET_PAGES = "DELETE FROM notion_pages WHERE tenant_id = $1"
_PAGE = "SELECT page_id FROM notion_pages WHERE tenant_id = $1 AND kind = $2 AND key = $3"
_REMEMBER = """
INSERT INTO notion_pages (tenant_id, kind, key, page_id) VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, kind, key) DO UPDATE SET page_id = EXCLUDED.page_id, updated_at = now()
"""


@dataclass(frozen=True, slots=True)
class NotionLink:
    token_box: bytes = field(repr=False)
    callers_db: str
    calls_db: str
    messages_db: str
    tasks_db: str
    enabled: bool
    updated_at: datetime

    def database(self, kind: str) -> str:
        return {
            "caller": self.callers_db,
            "call": self.calls_db,
            "message": self.messages_db,
            "task": self.tasks_db,
        }[kind]


async def get_link(pool: asyncpg.Pool, tenant_id: str) -> NotionLink | None:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_GET, uuid.UUID(tenant_id))
    if row is None:
        return None
    return NotionLink(
        token_box=row["token_box"],
        callers_db=row["callers_db"],
        calls_db=row["calls_db"],
        messages_db=row["messages_db"],
        tasks_db=row["tasks_db"],
        enabled=row["enabled"],
        updated_at=row["updated_at"],
    )


async def set_link(
    pool: asyncpg.Pool,
    tenant_id: str,
    sealed_token: bytes,
    databases: tuple[str, str, str, str],
    actor: Actor,
) -> None:
    """Link (or relink) the tenant's workspace; a new workspace starts with no known pages."""
    tenant = uuid.UUID(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        await conn.execute(_SET, tenant, sealed_token, *databases)
        await conn.execute(_FORGET_PAGES, tenant)
        await audit.write(conn, tenant_id, actor, "notion.link", None, {"databases": databases})


async def delete_link(pool: asyncpg.Pool, tenant_id: str, actor: Actor) -> bool:
    async with tenant_tx(pool, tenant_id) as conn:
        deleted = (await conn.execute(_DELETE, uuid.UUID(tenant_id))).endswith(" 1")
        if deleted:
            await audit.write(conn, tenant_id, actor, "notion.unlink")
    return deleted


async def page_id(pool: asyncpg.Pool, tenant_id: str, kind: str, key: str) -> str | None:
    async with tenant_tx(pool, tenant_id) as conn:
        found: str | None = await conn.fetchval(_PAGE, uuid.UUID(tenant_id), kind, key)
    return found


async def remember_page(pool: asyncpg.Pool, tenant_id: str, kind: str, key: str, page: str) -> None:
    async with tenant_tx(pool, tenant_id) as conn:
        await conn.execute(_REMEMBER, uuid.UUID(tenant_id), kind, key, page)
