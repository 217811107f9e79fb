"""The audit log: who changed what and when, per tenant (platform events have no tenant).
I/O: asyncpg.

Entries are written in the same transaction as the change they describe (`write` takes the open
connection), so a change and its entry commit together or not at all. The table is append-only
(restrictive RLS policies refuse UPDATE and DELETE). `changes` holds field names and non-secret
new values; secrets appear as "(set)" and caller data not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from memory.admin_db import scoped_tx, uuid_or_none
from memory.db import Conn

_INSERT = """
INSERT INTO audit_log (tenant_id, actor_id, actor_email, action, target, changes)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
"""
_LIST = """
SELECT entry_id, at, actor_id, actor_email, action, target, changes FROM audit_log
WHERE tenant_id IS NOT DISTINCT FROM $1 AND ($2::bigint IS NULL OR entry_id < $2)
  AND ($3::text IS NULL OR action = $3)
ORDER BY entry_id DESC
LIMIT $4
"""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: an admin user, or the system (user_id None) such as the CLI."""

    user_id: str | None
    email: str | None = field(default=None, repr=False)


SYSTEM = Actor(user_id=None, email="system")
AGENT = Actor(user_id=None, email="agent")  # the phone agent, during a call


@dataclass(frozen=True, slots=True)
class AuditEntry:
    entry_id: int
    at: datetime
    actor_id: str | None
    actor_email: str | None = field(repr=False)
    action: str
    target: str | None
    changes: dict[str, Any]


async def write(
    conn: Conn,
    tenant_id: str | None,
    actor: Actor,
    action: str,
    target: str | None = None,
    changes: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry in the open transaction (tenant's or platform's)."""
    await conn.execute(
        _INSERT,
        uuid_or_none(tenant_id),
        uuid_or_none(actor.user_id),
        actor.email,
        action,
        target,
        dict(changes or {}),
    )


async def list_entries(
    pool: asyncpg.Pool,
    tenant_id: str | None,
    *,
    before: int | None = None,
    action: str | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Newest first; `before` is the entry id to continue after."""
    async with scoped_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_LIST, uuid_or_none(tenant_id), before, action, limit)
    return [
        AuditEntry(
            entry_id=r["entry_id"],
            at=r["at"],
            actor_id=str(r["actor_id"]) if r["actor_id"] is not None else None,
            actor_email=r["actor_email"],
            action=r["action"],
            target=r["target"],
            changes=r["changes"],
        )
        for r in rows
    ]
