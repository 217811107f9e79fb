"""Compliance settings: a tenant's jurisdiction and AI-disclosure policy, and the platform's
switch that makes disclosure mandatory for every tenant. I/O: asyncpg. Each change and its
audit entry commit together."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from memory import audit
from memory.admin_db import platform_tx
from memory.db import tenant_tx

_GET_TENANT = "SELECT jurisdiction, ai_disclosure FROM tenants WHERE tenant_id = $1"
_SET_TENANT = """
UPDATE tenants SET jurisdiction = $2, ai_disclosure = $3, updated_at = now() WHERE tenant_id = $1
"""
_GET_PLATFORM = "SELECT ai_disclosure_mandatory FROM platform_settings"
_SET_PLATFORM = "UPDATE platform_settings SET ai_disclosure_mandatory = $1, updated_at = now()"


@dataclass(frozen=True, slots=True)
class TenantCompliance:
    jurisdiction: str | None  # a US state code such as "CA"
    ai_disclosure: str  # "always" or "jurisdiction"


async def tenant_compliance(pool: asyncpg.Pool, tenant_id: str) -> TenantCompliance | None:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_GET_TENANT, uuid.UUID(tenant_id))
    return None if row is None else TenantCompliance(row["jurisdiction"], row["ai_disclosure"])


async def set_tenant_compliance(
    pool: asyncpg.Pool, tenant_id: str, value: TenantCompliance, *, actor: audit.Actor
) -> bool:
    async with tenant_tx(pool, tenant_id) as conn:
        status = await conn.execute(
            _SET_TENANT, uuid.UUID(tenant_id), value.jurisdiction, value.ai_disclosure
        )
        if not status.endswith(" 1"):
            return False
        await audit.write(
            conn,
            tenant_id,
            actor,
            "tenant.compliance",
            tenant_id,
            {"jurisdiction": value.jurisdiction, "ai_disclosure": value.ai_disclosure},
        )
    return True


async def platform_disclosure_mandatory(pool: asyncpg.Pool) -> bool:
    async with platform_tx(pool) as conn:
        return bool(await conn.fetchval(_GET_PLATFORM))


async def set_platform_disclosure_mandatory(
    pool: asyncpg.Pool, mandatory: bool, *, actor: audit.Actor
) -> None:
    async with platform_tx(pool) as conn:
        await conn.execute(_SET_PLATFORM, mandatory)
        await audit.write(
            conn, None, actor, "platform.settings", None, {"ai_disclosure_mandatory": mandatory}
        )
