"""A tenant's call templates (memory.call_templates) in Postgres. I/O: asyncpg, on the table
of 0024, in the tenant's transaction; changes are audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from memory import audit
from memory.audit import Actor
from memory.call_templates import MAX_TEMPLATES, CallTemplate, template_from_json, template_json
from memory.db import Conn, tenant_tx

_LIST = """
SELECT key, definition, enabled, updated_at FROM call_templates WHERE tenant_id = $1 ORDER BY key
"""
_ENABLED = """
SELECT key, definition, enabled, updated_at FROM call_templates
WHERE tenant_id = $1 AND enabled ORDER BY key
"""
_COUNT = "SELECT count(*) FROM call_templates WHERE tenant_id = $1 AND key <> $2"
_UPSERT = """
INSERT INTO call_templates (tenant_id, key, definition, enabled) VALUES ($1, $2, $3::jsonb, $4)
ON CONFLICT (tenant_id, key) DO UPDATE SET
    definition = EXCLUDED.definition, enabled = EXCLUDED.enabled, updated_at = now()
RETURNING key, definition, enabled, updated_at
"""
_DELETE = "DELETE FROM call_templates WHERE tenant_id = $1 AND key = $2"


class TooManyTemplates(Exception):
    pass


@dataclass(frozen=True, slots=True)
class StoredTemplate:
    template: CallTemplate
    updated_at: datetime


def _row(row: asyncpg.Record) -> StoredTemplate:
    template = template_from_json(row["key"], row["definition"], row["enabled"])
    return StoredTemplate(template, row["updated_at"])


async def enabled_templates(conn: Conn, tenant_id: str) -> list[CallTemplate]:
    """The templates the post-call job asks for, in key order."""
    return [_row(r).template for r in await conn.fetch(_ENABLED, uuid.UUID(tenant_id))]


async def list_templates(pool: asyncpg.Pool, tenant_id: str) -> list[StoredTemplate]:
    async with tenant_tx(pool, tenant_id) as conn:
        return [_row(r) for r in await conn.fetch(_LIST, uuid.UUID(tenant_id))]


async def save_template(
    pool: asyncpg.Pool, tenant_id: str, template: CallTemplate, actor: Actor
) -> StoredTemplate:
    """Add or replace a template (at most MAX_TEMPLATES per tenant)."""
    tenant = uuid.UUID(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        if await conn.fetchval(_COUNT, tenant, template.key) >= MAX_TEMPLATES:
            raise TooManyTemplates(f"at most {MAX_TEMPLATES} call templates per agency")
        row = await conn.fetchrow(
            _UPSERT, tenant, template.key, template_json(template), template.enabled
        )
        assert row is not None
        await audit.write(
            conn,
            tenant_id,
            actor,
            "call_template.set",
            template.key,
            {"enabled": template.enabled},
        )
    return _row(row)


async def remove_template(pool: asyncpg.Pool, tenant_id: str, key: str, actor: Actor) -> bool:
    async with tenant_tx(pool, tenant_id) as conn:
        deleted = (await conn.execute(_DELETE, uuid.UUID(tenant_id), key)).endswith(" 1")
        if deleted:
            await audit.write(conn, tenant_id, actor, "call_template.remove", key)
    return deleted
