"""Tenants as the platform admin manages them: create, list, read, update, suspend.
I/O: asyncpg.

Reads and writes of one tenant run in that tenant's transaction; listing every tenant goes
through the SECURITY DEFINER function `platform_tenants` (0004), which returns names, limits and
numbers but never Twilio credentials. The Twilio auth token is write-only: it is stored, and
`TenantDetail` only says whether one is set. Phone numbers are unique across all tenants (the
primary key of phone_numbers); a taken number raises `NumberTaken`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import asyncpg

from engine.secret_box import SecretBox
from memory import audit
from memory.audit import Actor
from memory.db import Conn, acquire, tenant_tx
from memory.errors import Duplicate
from memory.tenants import NumberTaken, seal_token

TenantStatus = Literal["active", "suspended"]

_INSERT_TENANT = """
INSERT INTO tenants (tenant_id, name, time_zone, max_concurrent_calls, business_hours,
                     twilio_account_sid, twilio_auth_token_box)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)
"""
_INSERT_AGENT = "INSERT INTO agent_configs (tenant_id) VALUES ($1)"
_INSERT_NUMBER = "INSERT INTO phone_numbers (e164, tenant_id) VALUES ($1, $2)"
_DELETE_NUMBERS = "DELETE FROM phone_numbers WHERE tenant_id = $1 AND NOT (e164 = ANY($2::text[]))"
_NUMBERS = "SELECT e164 FROM phone_numbers WHERE tenant_id = $1 ORDER BY e164"
_GET = """
SELECT tenant_id, name, status, time_zone, max_concurrent_calls, business_hours,
       twilio_account_sid, twilio_auth_token_box IS NOT NULL AS twilio_auth_token_set,
       created_at, updated_at
FROM tenants WHERE tenant_id = $1
"""
_UPDATE = """
UPDATE tenants SET name = $2, status = $3, time_zone = $4, max_concurrent_calls = $5,
       business_hours = $6::jsonb, twilio_account_sid = $7,
       twilio_auth_token_box = CASE WHEN $8 THEN $9 ELSE twilio_auth_token_box END,
       updated_at = now()
WHERE tenant_id = $1
RETURNING updated_at
"""
_LIST = "SELECT * FROM platform_tenants($1, $2, $3)"
_LOCK = "SELECT 1 FROM tenants WHERE tenant_id = $1 FOR UPDATE"


@dataclass(frozen=True, slots=True)
class TenantDetail:
    tenant_id: str
    name: str
    status: TenantStatus
    time_zone: str
    max_concurrent_calls: int
    business_hours: dict[str, Any]
    numbers: tuple[str, ...]
    twilio_account_sid: str | None
    twilio_auth_token_set: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TenantSummary:
    tenant_id: str
    name: str
    status: TenantStatus
    time_zone: str
    max_concurrent_calls: int
    numbers: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """What a platform admin sets on a tenant. `twilio_auth_token` is applied only when
    `set_auth_token` is true (None then clears it)."""

    name: str
    time_zone: str
    max_concurrent_calls: int
    business_hours: dict[str, Any]
    numbers: tuple[str, ...]
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    set_auth_token: bool = False
    status: TenantStatus = "active"


def _detail(row: asyncpg.Record, numbers: list[str]) -> TenantDetail:
    hours = row["business_hours"]
    return TenantDetail(
        tenant_id=str(row["tenant_id"]),
        name=row["name"],
        status=row["status"],
        time_zone=row["time_zone"],
        max_concurrent_calls=row["max_concurrent_calls"],
        business_hours=dict(hours),
        numbers=tuple(numbers),
        twilio_account_sid=row["twilio_account_sid"],
        twilio_auth_token_set=row["twilio_auth_token_set"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _read(conn: Conn, tenant: uuid.UUID) -> TenantDetail | None:
    row = await conn.fetchrow(_GET, tenant)
    if row is None:
        return None
    numbers = [r["e164"] for r in await conn.fetch(_NUMBERS, tenant)]
    return _detail(row, numbers)


def spec_of(detail: TenantDetail) -> TenantSpec:
    """The editable part of a tenant, to change with `dataclasses.replace`."""
    return TenantSpec(
        name=detail.name,
        time_zone=detail.time_zone,
        max_concurrent_calls=detail.max_concurrent_calls,
        business_hours=detail.business_hours,
        numbers=detail.numbers,
        twilio_account_sid=detail.twilio_account_sid,
        status=detail.status,
    )


def _audit_changes(before: TenantSpec, after: TenantSpec) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in (
        "name",
        "status",
        "time_zone",
        "max_concurrent_calls",
        "business_hours",
        "numbers",
        "twilio_account_sid",
    ):
        if getattr(before, name) != getattr(after, name):
            changes[name] = getattr(after, name)
    if after.set_auth_token:
        changes["twilio_auth_token"] = "(set)" if after.twilio_auth_token else "(cleared)"
    return changes


async def create_tenant(
    pool: asyncpg.Pool, spec: TenantSpec, actor: Actor, *, tokens: SecretBox | None = None
) -> TenantDetail:
    """Create the tenant; its Twilio auth token, if any, sealed with `tokens`."""
    sealed = seal_token(spec.twilio_auth_token, tokens)
    tenant_id = str(uuid.uuid4())
    tenant = uuid.UUID(tenant_id)
    try:
        async with tenant_tx(pool, tenant_id) as conn:
            await conn.execute(
                _INSERT_TENANT,
                tenant,
                spec.name,
                spec.time_zone,
                spec.max_concurrent_calls,
                spec.business_hours,
                spec.twilio_account_sid,
                sealed,
            )
            await conn.execute(_INSERT_AGENT, tenant)
            for number in spec.numbers:
                await conn.execute(_INSERT_NUMBER, number, tenant)
            created = await _read(conn, tenant)
            assert created is not None
            empty = TenantSpec("", "", 0, {}, ())
            changes = _audit_changes(
                empty, replace(spec, set_auth_token=spec.twilio_auth_token is not None)
            )
            await audit.write(conn, tenant_id, actor, "tenant.created", tenant_id, changes)
    except Duplicate as exc:
        raise NumberTaken("a phone number is already assigned to a tenant") from exc
    return created


async def get_tenant(pool: asyncpg.Pool, tenant_id: str) -> TenantDetail | None:
    async with tenant_tx(pool, tenant_id) as conn:
        return await _read(conn, uuid.UUID(tenant_id))


async def list_tenants(
    pool: asyncpg.Pool, *, after: str | None, limit: int, status: TenantStatus | None
) -> list[TenantSummary]:
    async with acquire(pool, timeout=5) as conn:
        rows = await conn.fetch(
            _LIST, uuid.UUID(after) if after is not None else None, limit, status
        )
    return [
        TenantSummary(
            tenant_id=str(r["tenant_id"]),
            name=r["name"],
            status=r["status"],
            time_zone=r["time_zone"],
            max_concurrent_calls=r["max_concurrent_calls"],
            numbers=tuple(r["numbers"]),
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )
        for r in rows
    ]


async def update_tenant(
    pool: asyncpg.Pool,
    tenant_id: str,
    actor: Actor,
    change: Callable[[TenantSpec], TenantSpec],
    *,
    action: str = "tenant.updated",
    tokens: SecretBox | None = None,
) -> TenantDetail | None:
    """Apply `change` (pure; ValueError aborts) to the locked tenant and store it; a new Twilio
    auth token is sealed with `tokens`."""
    tenant = uuid.UUID(tenant_id)
    try:
        async with tenant_tx(pool, tenant_id) as conn:
            await conn.execute(_LOCK, tenant)
            current = await _read(conn, tenant)
            if current is None:
                return None
            before = spec_of(current)
            after = change(before)
            await conn.execute(
                _UPDATE,
                tenant,
                after.name,
                after.status,
                after.time_zone,
                after.max_concurrent_calls,
                after.business_hours,
                after.twilio_account_sid,
                after.set_auth_token,
                seal_token(after.twilio_auth_token, tokens),
            )
            if after.numbers != before.numbers:
                await conn.execute(_DELETE_NUMBERS, tenant, list(after.numbers))
                for number in after.numbers:
                    if number not in before.numbers:
                        await conn.execute(_INSERT_NUMBER, number, tenant)
            changes = _audit_changes(before, after)
            if changes:
                await audit.write(conn, tenant_id, actor, action, tenant_id, changes)
            return await _read(conn, tenant)
    except Duplicate as exc:
        raise NumberTaken("a phone number is already assigned to a tenant") from exc
