"""Caller verification in Postgres: the identifiers an agency has on file for a caller, and
every verification attempt. I/O: asyncpg, inside tenant transactions.

The decision itself (normalising, comparing in constant time, the attempt limits) is
`engine.verification`; this module reads what it needs and records the outcome - the attempt
row and an audit entry - in the same transaction. Identifier values are never returned: an
admin sees which fields are on file, a call sees only whether the caller verified.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from engine.verification import (
    FIELDS,
    Attempt,
    VerificationPolicy,
    check,
    gate,
    normalise,
)
from memory import audit
from memory.db import tenant_tx

_STORED = """
SELECT field, value FROM caller_identifiers WHERE tenant_id = $1 AND caller_number = $2
"""
_FIELDS_ON_FILE = """
SELECT field FROM caller_identifiers WHERE tenant_id = $1 AND caller_number = $2 ORDER BY field
"""
_UPSERT = """
INSERT INTO caller_identifiers (tenant_id, caller_number, field, value)
VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, caller_number, field) DO UPDATE SET value = $4, updated_at = now()
"""
_DELETE = (
    "DELETE FROM caller_identifiers WHERE tenant_id = $1 AND caller_number = $2 AND field = $3"
)
_RECENT_FAILURES = """
SELECT at FROM verification_attempts
WHERE tenant_id = $1 AND caller_number = $2 AND NOT verified
  AND at > $3::timestamptz - make_interval(secs => $4::float8)
"""
_ATTEMPTS_THIS_CALL = """
SELECT count(*) FROM verification_attempts WHERE tenant_id = $1 AND call_sid = $2
"""
_VERIFIED_ON_CALL = """
SELECT EXISTS (SELECT 1 FROM verification_attempts
               WHERE tenant_id = $1 AND call_sid = $2 AND caller_number = $3 AND verified)
"""
_INSERT_ATTEMPT = """
INSERT INTO verification_attempts (tenant_id, caller_number, call_sid, at, verified, reason, fields)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""

AGENT = audit.AGENT


def policy_from_json(raw: Any) -> VerificationPolicy:
    """The tenant's stored policy (agent_configs.verification); unknown keys are ignored."""
    value = dict(raw or {})
    known = {k: v for k, v in value.items() if k in VerificationPolicy.__slots__}
    if "fields" in known:
        known["fields"] = tuple(known["fields"])
    return VerificationPolicy(**known)


def policy_to_json(policy: VerificationPolicy) -> dict[str, Any]:
    return {k: getattr(policy, k) for k in VerificationPolicy.__slots__}


async def fields_on_file(pool: asyncpg.Pool, tenant_id: str, caller_number: str) -> tuple[str, ...]:
    """Which identifiers the agency holds for this caller (their values stay in the database)."""
    async with tenant_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_FIELDS_ON_FILE, uuid.UUID(tenant_id), caller_number)
    return tuple(r["field"] for r in rows)


async def set_identifiers(
    pool: asyncpg.Pool,
    tenant_id: str,
    caller_number: str,
    values: Mapping[str, str | None],
    *,
    actor: audit.Actor,
) -> tuple[str, ...]:
    """Store (normalised) or, with None, remove identifiers; returns the fields now on file.
    `VerificationError` for an unknown field or an unreadable value - nothing is written then."""
    normalised = {
        field: None if value is None else normalise(field, value) for field, value in values.items()
    }
    tenant = uuid.UUID(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        for field, value in normalised.items():
            if value is None:
                await conn.execute(_DELETE, tenant, caller_number, field)
            else:
                await conn.execute(_UPSERT, tenant, caller_number, field, value)
        await audit.write(
            conn,
            tenant_id,
            actor,
            "caller.identifiers",
            None,
            {field: "(set)" if v is not None else "(removed)" for field, v in normalised.items()},
        )
        rows = await conn.fetch(_FIELDS_ON_FILE, tenant, caller_number)
    return tuple(r["field"] for r in rows)


async def verify(
    pool: asyncpg.Pool,
    tenant_id: str,
    *,
    caller_number: str,
    call_sid: str,
    given: Mapping[str, str],
    policy: VerificationPolicy,
    now: datetime,
) -> Attempt:
    """One verification attempt, decided and recorded in one transaction (the attempt row and
    an audit entry naming the fields tried, never their values)."""
    tenant = uuid.UUID(tenant_id)
    fields = [f for f in given if f in FIELDS]
    async with tenant_tx(pool, tenant_id) as conn:
        done = int(await conn.fetchval(_ATTEMPTS_THIS_CALL, tenant, call_sid))
        failures = await conn.fetch(
            _RECENT_FAILURES, tenant, caller_number, now, float(policy.cooldown_s)
        )
        allowed = gate(
            policy,
            attempts_this_call=done,
            recent_failures=tuple(r["at"] for r in failures),
            now=now,
        )
        if not allowed.allowed:
            attempt = Attempt(False, allowed.reason, allowed.retry_at)
        else:
            stored = {
                r["field"]: r["value"] for r in await conn.fetch(_STORED, tenant, caller_number)
            }
            result = check(stored, given, policy)
            attempt = Attempt(result.verified, result.reason)
        await conn.execute(
            _INSERT_ATTEMPT,
            tenant,
            caller_number,
            call_sid,
            now,
            attempt.verified,
            attempt.reason,
            fields,
        )
        await audit.write(
            conn,
            tenant_id,
            AGENT,
            "caller.verification",
            call_sid,
            {"verified": attempt.verified, "reason": attempt.reason, "fields": fields},
        )
    return attempt


async def verified_on_call(
    pool: asyncpg.Pool, tenant_id: str, *, call_sid: str, caller_number: str
) -> bool:
    """Whether this caller verified earlier on this call (a call resumed on a new actor keeps
    its verified state: it lasts for the call)."""
    async with tenant_tx(pool, tenant_id) as conn:
        found = await conn.fetchval(
            _VERIFIED_ON_CALL, uuid.UUID(tenant_id), call_sid, caller_number
        )
    return bool(found)


_GET_POLICY = "SELECT verification FROM agent_configs WHERE tenant_id = $1"
_SET_POLICY = """
UPDATE agent_configs SET verification = $2::jsonb, version = version + 1, updated_at = now()
WHERE tenant_id = $1
"""


async def get_policy(pool: asyncpg.Pool, tenant_id: str) -> VerificationPolicy | None:
    async with tenant_tx(pool, tenant_id) as conn:
        raw = await conn.fetchval(_GET_POLICY, uuid.UUID(tenant_id))
    return None if raw is None else policy_from_json(raw)


async def set_policy(
    pool: asyncpg.Pool, tenant_id: str, policy: VerificationPolicy, *, actor: audit.Actor
) -> bool:
    """Store the tenant's policy (a new agent version, audited); False when it has no agent."""
    async with tenant_tx(pool, tenant_id) as conn:
        status = await conn.execute(_SET_POLICY, uuid.UUID(tenant_id), policy_to_json(policy))
        if not status.endswith(" 1"):
            return False
        await audit.write(
            conn, tenant_id, actor, "agent.verification", None, policy_to_json(policy)
        )
    return True
