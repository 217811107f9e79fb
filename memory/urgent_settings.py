"""An agency's urgent-claim settings (engine.urgent_claims) in its agent's row. I/O: asyncpg,
on the column of 0026; a change is a new agent version, audited."""

from __future__ import annotations

import uuid

import asyncpg

from engine.urgent_claims import UrgentClaims
from memory import agent_settings, audit
from memory.db import tenant_tx

_GET = "SELECT urgent_claims FROM agent_configs WHERE tenant_id = $1"


def _value(value: object) -> UrgentClaims:
    return UrgentClaims.from_json(value if isinstance(value, dict) else {})


async def get_urgent(pool: asyncpg.Pool, tenant_id: str) -> UrgentClaims | None:
    """None when the tenant has no agent."""
    async with tenant_tx(pool, tenant_id) as conn:
        raw = await conn.fetchval(_GET, uuid.UUID(tenant_id))
    return None if raw is None else _value(raw)


async def set_urgent(
    pool: asyncpg.Pool, tenant_id: str, urgent: UrgentClaims, *, actor: audit.Actor
) -> bool:
    """Store the settings (a new agent version, audited); False when the tenant has no agent."""
    return await agent_settings.set_json_setting(
        pool,
        tenant_id,
        "urgent_claims",
        urgent.to_json(),
        action="agent.urgent_claims",
        actor=actor,
    )
