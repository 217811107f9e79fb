"""The tools an agency defines for its own agent (table tenant_tools, migration 0025). I/O:
asyncpg, inside tenant transactions. Every change is audited; the signing secret arrives sealed
(engine.secret_box, TOOL_LABEL) and leaves only opened, into a call's tenant snapshot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from engine.config import AgencyTool
from engine.secret_box import SecretBox
from memory import audit
from memory.audit import Actor
from memory.db import Conn, tenant_tx
from memory.errors import Duplicate

MAX_TOOLS = 10  # per agency: each one's schema is sent to the model at every session start

_COUNT = "SELECT count(*) FROM tenant_tools WHERE tenant_id = $1"
_CREATE = """
INSERT INTO tenant_tools (tenant_id, tool_id, name, description, parameters, url, secret_box,
                          timeout_ms, enabled)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9)
RETURNING tool_id, name, description, parameters, url, timeout_ms, enabled, created_at, updated_at
"""
_LIST = """
SELECT tool_id, name, description, parameters, url, timeout_ms, enabled, created_at, updated_at
FROM tenant_tools WHERE tenant_id = $1 ORDER BY name
"""
_GET = """
SELECT tool_id, name, description, parameters, url, timeout_ms, enabled, created_at, updated_at
FROM tenant_tools WHERE tenant_id = $1 AND tool_id = $2
"""
_UPDATE = """
UPDATE tenant_tools SET name = $3, description = $4, parameters = $5::jsonb, url = $6,
       secret_box = coalesce($7, secret_box), timeout_ms = $8, enabled = $9, updated_at = now()
WHERE tenant_id = $1 AND tool_id = $2
RETURNING tool_id, name, description, parameters, url, timeout_ms, enabled, created_at, updated_at
"""
_DELETE = "DELETE FROM tenant_tools WHERE tenant_id = $1 AND tool_id = $2"
_FOR_CALLS = """
SELECT name, description, parameters, url, secret_box, timeout_ms FROM tenant_tools
WHERE tenant_id = $1 AND enabled ORDER BY name
"""


class TooManyTools(Exception):
    pass


class ToolNameTaken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ToolDraft:
    """What an admin gives (the secret already sealed; None on an update keeps the old one)."""

    name: str
    description: str
    parameters: dict[str, Any]
    url: str
    sealed_secret: bytes | None
    timeout_ms: int = 5000
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class TenantTool:
    tool_id: str
    name: str
    description: str
    parameters: dict[str, Any]
    url: str
    timeout_ms: int
    enabled: bool
    created_at: datetime
    updated_at: datetime


def _tool(row: asyncpg.Record) -> TenantTool:
    return TenantTool(
        tool_id=str(row["tool_id"]),
        name=row["name"],
        description=row["description"],
        parameters=row["parameters"],
        url=row["url"],
        timeout_ms=row["timeout_ms"],
        enabled=row["enabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _columns(draft: ToolDraft) -> tuple[Any, ...]:
    """The draft as the arguments that follow the ids in _CREATE and _UPDATE."""
    return (
        draft.name,
        draft.description,
        draft.parameters,
        draft.url,
        draft.sealed_secret,
        draft.timeout_ms,
        draft.enabled,
    )


def _audited(draft: ToolDraft) -> dict[str, Any]:
    return {"name": draft.name, "url": draft.url, "enabled": draft.enabled}


async def create_tool(
    pool: asyncpg.Pool, tenant_id: str, draft: ToolDraft, actor: Actor
) -> TenantTool:
    assert draft.sealed_secret is not None, "a new tool needs its secret"
    tenant = uuid.UUID(tenant_id)
    try:
        async with tenant_tx(pool, tenant_id) as conn:
            if await conn.fetchval(_COUNT, tenant) >= MAX_TOOLS:
                raise TooManyTools(f"at most {MAX_TOOLS} custom tools per agency")
            row = await conn.fetchrow(
                _CREATE,
                tenant,
                uuid.uuid4(),
                *_columns(draft),
            )
            assert row is not None
            tool = _tool(row)
            await audit.write(
                conn, tenant_id, actor, "custom_tool.create", tool.tool_id, _audited(draft)
            )
    except Duplicate:
        raise ToolNameTaken(f"a custom tool named '{draft.name}' exists already") from None
    return tool


async def list_tools(pool: asyncpg.Pool, tenant_id: str) -> list[TenantTool]:
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_LIST, uuid.UUID(tenant_id))
    return [_tool(r) for r in rows]


async def get_tool(pool: asyncpg.Pool, tenant_id: str, tool_id: str) -> TenantTool | None:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_GET, uuid.UUID(tenant_id), uuid.UUID(tool_id))
    return _tool(row) if row is not None else None


async def update_tool(
    pool: asyncpg.Pool, tenant_id: str, tool_id: str, draft: ToolDraft, actor: Actor
) -> TenantTool | None:
    try:
        async with tenant_tx(pool, tenant_id) as conn:
            row = await conn.fetchrow(
                _UPDATE,
                uuid.UUID(tenant_id),
                uuid.UUID(tool_id),
                *_columns(draft),
            )
            if row is None:
                return None
            audited = _audited(draft) | {"secret_changed": draft.sealed_secret is not None}
            await audit.write(conn, tenant_id, actor, "custom_tool.update", tool_id, audited)
    except Duplicate:
        raise ToolNameTaken(f"a custom tool named '{draft.name}' exists already") from None
    return _tool(row)


async def delete_tool(pool: asyncpg.Pool, tenant_id: str, tool_id: str, actor: Actor) -> bool:
    async with tenant_tx(pool, tenant_id) as conn:
        status = await conn.execute(_DELETE, uuid.UUID(tenant_id), uuid.UUID(tool_id))
        deleted = bool(status.endswith(" 1"))
        if deleted:
            await audit.write(conn, tenant_id, actor, "custom_tool.delete", tool_id)
    return deleted


async def tools_for_calls(conn: Conn, tenant: uuid.UUID, box: SecretBox) -> tuple[AgencyTool, ...]:
    """The enabled tools with their secrets opened, for a tenant snapshot (inside its tx)."""
    rows = await conn.fetch(_FOR_CALLS, tenant)
    return tuple(
        AgencyTool(
            name=r["name"],
            description=r["description"],
            parameters=r["parameters"],
            url=r["url"],
            secret=box.open(r["secret_box"]),
            timeout_s=r["timeout_ms"] / 1000,
        )
        for r in rows
    )
