"""Invitations to a tenant: made by a platform admin or the tenant's owners and admins, used
once by the invited person to create their account with a password of their own. I/O: asyncpg.

Only the SHA-256 digest of an invitation's secret is stored (admin_api.invitations makes and
parses the link). Accepting marks the invitation used and creates the user in one transaction
of the invitation's tenant, so a link works at most once even when two tabs race: the row is
locked and a used or expired one creates nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import asyncpg

from memory import audit
from memory.admin_db import uuid_or_none
from memory.audit import Actor
from memory.db import tenant_tx
from memory.users import AdminUser, NewUser, insert_user

_INSERT = """
INSERT INTO admin_invitations (token_hash, tenant_id, email, role, display_name, invited_by,
                               expires_at)
VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
RETURNING email, role, display_name, created_at, expires_at
"""
_LOCK = """
SELECT email, role, display_name, expires_at, used_at, expires_at <= now() AS expired
FROM admin_invitations WHERE token_hash = $1 AND tenant_id = $2 FOR UPDATE
"""
_PEEK = """
SELECT email, role, display_name, expires_at, used_at, expires_at <= now() AS expired
FROM admin_invitations WHERE token_hash = $1 AND tenant_id = $2
"""
_USE = "UPDATE admin_invitations SET used_at = now(), user_id = $2 WHERE token_hash = $1"

InvitationState = Literal["open", "used", "expired", "unknown"]
InvitedRole = Literal["owner", "admin", "viewer"]


@dataclass(frozen=True, slots=True)
class Invitation:
    email: str = field(repr=False)
    role: InvitedRole
    display_name: str | None = field(repr=False)
    expires_at: datetime
    state: InvitationState


def _invitation(row: asyncpg.Record) -> Invitation:
    state: InvitationState = (
        "used" if row["used_at"] is not None else "expired" if row["expired"] else "open"
    )
    return Invitation(row["email"], row["role"], row["display_name"], row["expires_at"], state)


async def create_invitation(
    pool: asyncpg.Pool,
    tenant_id: str,
    token_hash: bytes,
    *,
    email: str,
    role: InvitedRole,
    display_name: str | None,
    actor: Actor,
    ttl_s: int,
) -> Invitation:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            _INSERT,
            token_hash,
            uuid.UUID(tenant_id),
            email.strip().lower(),
            role,
            display_name,
            uuid_or_none(actor.user_id),
            float(ttl_s),
        )
        assert row is not None
        await audit.write(conn, tenant_id, actor, "user.invited", None, {"role": role})
    return Invitation(row["email"], row["role"], row["display_name"], row["expires_at"], "open")


async def peek_invitation(pool: asyncpg.Pool, tenant_id: str, token_hash: bytes) -> Invitation:
    """What an invitation is for and whether it can still be used (state "unknown" if none)."""
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_PEEK, token_hash, uuid.UUID(tenant_id))
    if row is None:
        return Invitation("", "viewer", None, datetime.min, "unknown")
    return _invitation(row)


@dataclass(frozen=True, slots=True)
class Accepted:
    state: InvitationState
    user: AdminUser | None = None


async def accept_invitation(
    pool: asyncpg.Pool, tenant_id: str, token_hash: bytes, password_hash: str
) -> Accepted:
    """Create the invited user, once. EmailTaken (from memory.users) when the email got an
    account meanwhile; then the invitation stays open and nothing is written."""
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_LOCK, token_hash, uuid.UUID(tenant_id))
        if row is None:
            return Accepted("unknown")
        found = _invitation(row)
        if found.state != "open":
            return Accepted(found.state)
        new = NewUser(
            tenant_id=tenant_id,
            email=found.email,
            role=found.role,
            password_hash=password_hash,
            display_name=found.display_name,
        )
        user = await insert_user(conn, new, Actor(None, found.email))
        await conn.execute(_USE, token_hash, uuid.UUID(user.user_id))
    return Accepted("open", user)
