"""Admin users, their login sessions and rotating refresh tokens.
I/O: asyncpg.

Users of a tenant live in that tenant's rows; platform admins (tenant_id None) in platform rows
(see memory.admin_db). Login starts from an email alone: `find_login` asks the SECURITY DEFINER
function `admin_login_lookup` (0004) for the user id and tenant, then everything else happens in
that scope. Password hashes are opaque strings here; hashing is admin_api.passwords' job.

A session is a refresh-token family. Refresh tokens are stored as SHA-256 digests and used once:
`rotate_refresh` marks the presented one used and stores its successor; a used one presented
again revokes the session (the token was stolen, or replayed). Disabling a user, changing a
password and logging out revoke sessions in the same transaction as the change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import asyncpg

from memory import audit
from memory.admin_db import scoped_tx, uuid_or_none
from memory.audit import Actor
from memory.db import Conn, acquire
from memory.errors import Duplicate

Role = Literal["platform_admin", "owner", "admin", "viewer"]

_LOOKUP = "SELECT user_id, tenant_id FROM admin_login_lookup($1)"
_INSERT_USER = """
INSERT INTO admin_users (user_id, tenant_id, email, role, display_name, password_hash)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING user_id, tenant_id, email, role, display_name, disabled_at, created_at, last_login_at,
       password_changed_at
"""
_CREDENTIALS = """
SELECT u.user_id, u.tenant_id, u.email, u.role, u.display_name, u.disabled_at, u.created_at,
       u.last_login_at, u.password_changed_at, u.password_hash,
       u.tenant_id IS NULL OR t.status = 'active' AS tenant_active
FROM admin_users u LEFT JOIN tenants t ON t.tenant_id = u.tenant_id
WHERE u.user_id = $1 AND u.tenant_id IS NOT DISTINCT FROM $2
"""
_GET_USER = """
SELECT user_id, tenant_id, email, role, display_name, disabled_at, created_at, last_login_at,
       password_changed_at
FROM admin_users WHERE user_id = $1 AND tenant_id IS NOT DISTINCT FROM $2
"""
_LIST_USERS = """
SELECT user_id, tenant_id, email, role, display_name, disabled_at, created_at, last_login_at,
       password_changed_at
FROM admin_users WHERE tenant_id IS NOT DISTINCT FROM $1
ORDER BY created_at, user_id
"""
_UPDATE_USER = """
UPDATE admin_users SET
    role = coalesce($3, role),
    display_name = coalesce($4, display_name),
    disabled_at = CASE WHEN $5::boolean IS NULL THEN disabled_at
                       WHEN $5 THEN coalesce(disabled_at, now()) ELSE NULL END,
    updated_at = now()
WHERE user_id = $1 AND tenant_id IS NOT DISTINCT FROM $2
RETURNING user_id, tenant_id, email, role, display_name, disabled_at, created_at, last_login_at,
       password_changed_at
"""
_SET_HASH = """
UPDATE admin_users SET password_hash = $3,
       password_changed_at = CASE WHEN $4 THEN now() ELSE password_changed_at END,
       updated_at = now()
WHERE user_id = $1 AND tenant_id IS NOT DISTINCT FROM $2
"""
_LOGGED_IN = "UPDATE admin_users SET last_login_at = now() WHERE user_id = $1"
_OPEN_SESSION = """
INSERT INTO admin_sessions (session_id, tenant_id, user_id, expires_at)
VALUES ($1, $2, $3, now() + make_interval(secs => $4))
"""
_INSERT_REFRESH = """
INSERT INTO refresh_tokens (token_hash, tenant_id, session_id, expires_at)
SELECT $1, $2, $3, least(s.expires_at, now() + make_interval(secs => $4))
FROM admin_sessions s WHERE s.session_id = $3
"""
_PRINCIPAL = """
SELECT u.user_id, u.tenant_id, u.email, u.role, u.display_name, u.disabled_at, u.created_at,
       u.last_login_at, u.password_changed_at
FROM admin_sessions s
JOIN admin_users u ON u.user_id = s.user_id
LEFT JOIN tenants t ON t.tenant_id = s.tenant_id
WHERE s.session_id = $1 AND s.user_id = $2 AND s.tenant_id IS NOT DISTINCT FROM $3
  AND s.revoked_at IS NULL AND s.expires_at > now() AND u.disabled_at IS NULL
  AND (s.tenant_id IS NULL OR t.status = 'active')
"""
_FIND_REFRESH = """
SELECT r.session_id, r.used_at, r.expires_at <= now() AS expired, s.user_id,
       s.revoked_at IS NOT NULL OR s.expires_at <= now() AS session_over,
       u.disabled_at IS NOT NULL AS disabled
FROM refresh_tokens r
JOIN admin_sessions s ON s.session_id = r.session_id
JOIN admin_users u ON u.user_id = s.user_id
WHERE r.token_hash = $1 AND r.tenant_id IS NOT DISTINCT FROM $2
FOR UPDATE OF r
"""
_USE_REFRESH = "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1"
_REVOKE_SESSION = """
UPDATE admin_sessions SET revoked_at = now(), revoke_reason = $3
WHERE session_id = $1 AND tenant_id IS NOT DISTINCT FROM $2 AND revoked_at IS NULL
"""
_REVOKE_USER_SESSIONS = """
UPDATE admin_sessions SET revoked_at = now(), revoke_reason = $3
WHERE user_id = $1 AND tenant_id IS NOT DISTINCT FROM $2 AND revoked_at IS NULL
"""
_PRUNE_SESSIONS = """
DELETE FROM admin_sessions
WHERE user_id = $1 AND (expires_at < now() - interval '7 days'
                        OR revoked_at < now() - interval '7 days')
"""


class EmailTaken(ValueError):
    """Another account already uses this email."""


@dataclass(frozen=True, slots=True)
class AdminUser:
    user_id: str
    tenant_id: str | None
    email: str = field(repr=False)
    role: Role
    display_name: str | None = field(repr=False)
    disabled_at: datetime | None
    created_at: datetime
    last_login_at: datetime | None
    password_changed_at: datetime

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True, slots=True)
class Credentials:
    user: AdminUser
    password_hash: str = field(repr=False)
    tenant_active: bool = True


@dataclass(frozen=True, slots=True)
class NewUser:
    tenant_id: str | None
    email: str = field(repr=False)
    role: Role
    password_hash: str = field(repr=False)
    display_name: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class LoginRef:
    """Where a login's account lives: its id and tenant (None for platform admins)."""

    user_id: str
    tenant_id: str | None


@dataclass(frozen=True, slots=True)
class Rotation:
    """What presenting a refresh token led to."""

    outcome: Literal["rotated", "unknown", "expired", "reused"]
    user_id: str | None = None
    session_id: str | None = None


def _user(row: asyncpg.Record) -> AdminUser:
    return AdminUser(
        user_id=str(row["user_id"]),
        tenant_id=str(row["tenant_id"]) if row["tenant_id"] is not None else None,
        email=row["email"],
        role=row["role"],
        display_name=row["display_name"],
        disabled_at=row["disabled_at"],
        created_at=row["created_at"],
        last_login_at=row["last_login_at"],
        password_changed_at=row["password_changed_at"],
    )


# --- users ---------------------------------------------------------------------------------------


async def find_login(pool: asyncpg.Pool, email: str) -> LoginRef | None:
    """The account an email belongs to, or None. Works before any tenant is known."""
    async with acquire(pool, timeout=5) as conn:
        row = await conn.fetchrow(_LOOKUP, email.strip().lower())
    if row is None:
        return None
    tenant = row["tenant_id"]
    return LoginRef(str(row["user_id"]), str(tenant) if tenant is not None else None)


async def credentials(pool: asyncpg.Pool, ref: LoginRef) -> Credentials | None:
    async with scoped_tx(pool, ref.tenant_id) as conn:
        row = await conn.fetchrow(_CREDENTIALS, uuid.UUID(ref.user_id), uuid_or_none(ref.tenant_id))
    if row is None:
        return None
    return Credentials(_user(row), row["password_hash"], row["tenant_active"])


async def create_user(pool: asyncpg.Pool, new: NewUser, actor: Actor) -> AdminUser:
    """Insert a user (and its audit entry). EmailTaken when the email is in use anywhere."""
    async with scoped_tx(pool, new.tenant_id) as conn:
        return await insert_user(conn, new, actor)


async def insert_user(conn: Conn, new: NewUser, actor: Actor) -> AdminUser:
    """`create_user` inside an open transaction of the user's scope. A taken email raises
    EmailTaken, and the transaction must then end (Postgres has aborted it)."""
    try:
        row = await conn.fetchrow(
            _INSERT_USER,
            uuid.uuid4(),
            uuid_or_none(new.tenant_id),
            new.email.strip().lower(),
            new.role,
            new.display_name,
            new.password_hash,
        )
    except (asyncpg.UniqueViolationError, Duplicate) as exc:  # raw inside the transaction
        raise EmailTaken("an account with this email already exists") from exc
    assert row is not None
    user = _user(row)
    await audit.write(conn, new.tenant_id, actor, "user.created", user.user_id, {"role": new.role})
    return user


async def get_user(pool: asyncpg.Pool, tenant_id: str | None, user_id: str) -> AdminUser | None:
    async with scoped_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_GET_USER, uuid.UUID(user_id), uuid_or_none(tenant_id))
    return _user(row) if row is not None else None


async def list_users(pool: asyncpg.Pool, tenant_id: str | None) -> list[AdminUser]:
    async with scoped_tx(pool, tenant_id) as conn:
        rows = await conn.fetch(_LIST_USERS, uuid_or_none(tenant_id))
    return [_user(r) for r in rows]


async def update_user(
    pool: asyncpg.Pool,
    tenant_id: str | None,
    user_id: str,
    actor: Actor,
    *,
    role: Role | None = None,
    display_name: str | None = None,
    disabled: bool | None = None,
) -> AdminUser | None:
    """Change what is given; disabling revokes every session of the user at once."""
    async with scoped_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            _UPDATE_USER, uuid.UUID(user_id), uuid_or_none(tenant_id), role, display_name, disabled
        )
        if row is None:
            return None
        if disabled:
            await _revoke_all(conn, tenant_id, user_id, "user_disabled")
        changes: dict[str, object] = {}
        if role is not None:
            changes["role"] = role
        if display_name is not None:
            changes["display_name"] = "(changed)"
        if disabled is not None:
            changes["disabled"] = disabled
        await audit.write(conn, tenant_id, actor, "user.updated", user_id, changes)
    return _user(row)


async def set_password_hash(
    pool: asyncpg.Pool,
    ref: LoginRef,
    password_hash: str,
    *,
    changed_by: Actor | None,
) -> None:
    """Store a new hash. With `changed_by` it is a password change: every session of the user
    is revoked and the change audited; without, it is a silent rehash of the same password."""
    async with scoped_tx(pool, ref.tenant_id) as conn:
        await conn.execute(
            _SET_HASH,
            uuid.UUID(ref.user_id),
            uuid_or_none(ref.tenant_id),
            password_hash,
            changed_by is not None,
        )
        if changed_by is not None:
            await _revoke_all(conn, ref.tenant_id, ref.user_id, "password_changed")
            await audit.write(conn, ref.tenant_id, changed_by, "user.password_changed", ref.user_id)


# --- sessions and refresh tokens ---------------------------------------------------------------


async def open_session(
    pool: asyncpg.Pool,
    user: AdminUser,
    refresh_hash: bytes,
    *,
    session_s: int,
    refresh_s: int,
) -> str:
    """A new session for a user who just proved their password, with its first refresh token."""
    session_id = uuid.uuid4()
    tenant = uuid_or_none(user.tenant_id)
    async with scoped_tx(pool, user.tenant_id) as conn:
        await conn.execute(_OPEN_SESSION, session_id, tenant, uuid.UUID(user.user_id), session_s)
        await conn.execute(_INSERT_REFRESH, refresh_hash, tenant, session_id, refresh_s)
        await conn.execute(_LOGGED_IN, uuid.UUID(user.user_id))
        await conn.execute(_PRUNE_SESSIONS, uuid.UUID(user.user_id))
        await audit.write(
            conn, user.tenant_id, Actor(user.user_id, user.email), "user.logged_in", user.user_id
        )
    return str(session_id)


async def session_user(
    pool: asyncpg.Pool, tenant_id: str | None, session_id: str, user_id: str
) -> AdminUser | None:
    """The user behind an access token, while its session is live and the user enabled."""
    async with scoped_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            _PRINCIPAL, uuid.UUID(session_id), uuid.UUID(user_id), uuid_or_none(tenant_id)
        )
    return _user(row) if row is not None else None


async def rotate_refresh(
    pool: asyncpg.Pool,
    tenant_id: str | None,
    presented_hash: bytes,
    next_hash: bytes,
    *,
    refresh_s: int,
) -> Rotation:
    """Use a refresh token once: store its successor, or refuse (revoking the session when a
    used token comes back)."""
    tenant = uuid_or_none(tenant_id)
    async with scoped_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(_FIND_REFRESH, presented_hash, tenant)
        if row is None:
            return Rotation("unknown")
        session_id = row["session_id"]
        if row["used_at"] is not None:
            await conn.execute(_REVOKE_SESSION, session_id, tenant, "refresh_token_reused")
            await audit.write(
                conn,
                tenant_id,
                Actor(str(row["user_id"])),
                "session.revoked",
                str(session_id),
                {"reason": "refresh_token_reused"},
            )
            return Rotation("reused", str(row["user_id"]), str(session_id))
        if row["expired"] or row["session_over"] or row["disabled"]:
            return Rotation("expired", str(row["user_id"]), str(session_id))
        await conn.execute(_USE_REFRESH, presented_hash)
        await conn.execute(_INSERT_REFRESH, next_hash, tenant, session_id, refresh_s)
    return Rotation("rotated", str(row["user_id"]), str(session_id))


async def revoke_session(
    pool: asyncpg.Pool, tenant_id: str | None, session_id: str, actor: Actor, reason: str
) -> None:
    async with scoped_tx(pool, tenant_id) as conn:
        await conn.execute(_REVOKE_SESSION, uuid.UUID(session_id), uuid_or_none(tenant_id), reason)
        await audit.write(conn, tenant_id, actor, "session.revoked", session_id, {"reason": reason})


async def _revoke_all(conn: Conn, tenant_id: str | None, user_id: str, reason: str) -> None:
    await conn.execute(_REVOKE_USER_SESSIONS, uuid.UUID(user_id), uuid_or_none(tenant_id), reason)
