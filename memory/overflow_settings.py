"""An agency's overflow choice (engine.overflow) in its agent's row. I/O: asyncpg, on the
column of 0028; a change is a new agent version, audited."""

from __future__ import annotations

import uuid

import asyncpg

from engine.overflow import Overflow
from memory import agent_settings, audit
from memory.db import tenant_tx

_GET = "SELECT overflow, fallback_number FROM agent_configs WHERE tenant_id = $1"


def overflow_value(value: object) -> Overflow:
    return Overflow.from_json(value if isinstance(value, dict) else {})


async def get_overflow(pool: asyncpg.Pool, tenant_id: str) -> tuple[Overflow, str | None] | None:
    """The choice and the agent's fallback number; None when the tenant has no agent."""
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_GET, uuid.UUID(tenant_id))
    return None if row is None else (overflow_value(row["overflow"]), row["fallback_number"])


async def set_overflow(
    pool: asyncpg.Pool, tenant_id: str, overflow: Overflow, *, actor: audit.Actor
) -> bool:
    """Store the choice (a new agent version, audited); False when the tenant has no agent."""
    return await agent_settings.set_json_setting(
        pool, tenant_id, "overflow", overflow.to_json(), action="agent.overflow", actor=actor
    )
