"""Who on the agency's staff is texted, for which events, and the numbers that opted out.
I/O: asyncpg, on the tables of 0009; changes are audited."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from memory import audit
from memory.audit import Actor
from memory.db import tenant_tx

MAX_RECIPIENTS = 20

_UPSERT = """
INSERT INTO staff_sms (tenant_id, number, events) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, number) DO UPDATE SET events = EXCLUDED.events
RETURNING number, events, created_at
"""
_COUNT = "SELECT count(*) FROM staff_sms WHERE tenant_id = $1 AND number <> $2"
_LIST = "SELECT number, events, created_at FROM staff_sms WHERE tenant_id = $1 ORDER BY number"
_DELETE = "DELETE FROM staff_sms WHERE tenant_id = $1 AND number = $2"
_OPT_OUTS = """
SELECT number, opted_out_at FROM sms_opt_outs WHERE tenant_id = $1 ORDER BY opted_out_at DESC
"""
_OPT_IN = "DELETE FROM sms_opt_outs WHERE tenant_id = $1 AND number = $2"


class TooManyRecipients(Exception):
    pass


@dataclass(frozen=True, slots=True)
class StaffRecipient:
    number: str
    events: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OptOut:
    number: str
    opted_out_at: datetime


async def set_recipient(
    pool: asyncpg.Pool, tenant_id: str, number: str, events: Sequence[str], actor: Actor
) -> StaffRecipient:
    tenant = uuid.UUID(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        if await conn.fetchval(_COUNT, tenant, number) >= MAX_RECIPIENTS:
            raise TooManyRecipients(f"at most {MAX_RECIPIENTS} staff numbers per agency")
        row = await conn.fetchrow(_UPSERT, tenant, number, list(events))
        assert row is not None
        await audit.write(conn, tenant_id, actor, "staff_sms.set", None, {"events": list(events)})
    return StaffRecipient(row["number"], tuple(row["events"]), row["created_at"])


async def list_recipients(pool: asyncpg.Pool, tenant_id: str) -> list[StaffRecipient]:
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_LIST, uuid.UUID(tenant_id))
    return [StaffRecipient(r["number"], tuple(r["events"]), r["created_at"]) for r in rows]


async def remove_recipient(pool: asyncpg.Pool, tenant_id: str, number: str, actor: Actor) -> bool:
    async with tenant_tx(pool, tenant_id) as conn:
        deleted = (await conn.execute(_DELETE, uuid.UUID(tenant_id), number)).endswith(" 1")
        if deleted:
            await audit.write(conn, tenant_id, actor, "staff_sms.remove")
    return deleted


async def list_opt_outs(pool: asyncpg.Pool, tenant_id: str) -> list[OptOut]:
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_OPT_OUTS, uuid.UUID(tenant_id))
    return [OptOut(r["number"], r["opted_out_at"]) for r in rows]


async def opt_in(pool: asyncpg.Pool, tenant_id: str, number: str, actor: Actor) -> bool:
    """Forget a recorded STOP (the person texted START, and said so to the agency)."""
    async with tenant_tx(pool, tenant_id) as conn:
        deleted = (await conn.execute(_OPT_IN, uuid.UUID(tenant_id), number)).endswith(" 1")
        if deleted:
            await audit.write(conn, tenant_id, actor, "sms_opt_out.remove")
    return deleted
