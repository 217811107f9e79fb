"""Admin authentication: access JWTs, refresh tokens, and the FastAPI dependencies that turn a
bearer token into a principal with a role.

Access tokens (signed and decoded by engine.tokens, with its key ring): HS256 pinned, `kid`
header, required `exp iat iss aud sub tenant_id`, audience `admin` (a call-memory token is never an
admin token and vice versa), 15 minutes. They also carry the role and the session id (`sid`);
every request checks in Postgres that the session is live and the user enabled, so logout, a
password change or disabling a user cuts access at once, not when the token expires.
Platform admins have `tenant_id = "platform"`.

Refresh tokens are opaque: `nsr1.<tenant id | platform>.<256-bit secret>`; the server keeps
only SHA-256 of the secret (memory.users). The scope part only says which tenant's rows to look
in; it grants nothing by itself.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from admin_api.state import AdminState
from admin_api.webhooks import Ctx
from engine.tokens import (
    ADMIN_AUDIENCE,
    REQUIRED_CLAIMS,
    KeyRing,
    TokenError,
    decode,
    mint_claims,
    uuid_claim,
)
from memory import users
from memory.audit import Actor
from memory.users import Role

PLATFORM_SCOPE = "platform"
REFRESH_PREFIX = "nsr1"
_REQUIRED = (*REQUIRED_CLAIMS, "role", "sid")
_ROLES: frozenset[str] = frozenset({"platform_admin", "owner", "admin", "viewer"})
TenantRole = Literal["owner", "admin", "viewer"]
_TENANT_ROLES: dict[str, TenantRole] = {"owner": "owner", "admin": "admin", "viewer": "viewer"}
EDITOR_ROLES: frozenset[str] = frozenset({"owner", "admin"})


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    tenant_id: str | None
    role: Role
    session_id: str
    expires_at: int


def mint_access(
    ring: KeyRing,
    *,
    user_id: str,
    tenant_id: str | None,
    role: Role,
    session_id: str,
    ttl_s: int,
    now: float | None = None,
) -> str:
    return mint_claims(
        ring,
        subject=user_id,
        audience=ADMIN_AUDIENCE,
        ttl_s=ttl_s,
        now=now,
        tenant_id=tenant_id or PLATFORM_SCOPE,
        role=role,
        sid=session_id,
    )


def verify_access(ring: KeyRing, token: str) -> AccessClaims:
    """Signature, algorithm, audience, issuer, expiry and claim shapes; TokenError otherwise."""
    payload = decode(ring, token, audience=ADMIN_AUDIENCE, required=_REQUIRED)
    role = payload["role"]
    if role not in _ROLES:
        raise TokenError("unknown role")
    tenant = None if payload["tenant_id"] == PLATFORM_SCOPE else uuid_claim(payload, "tenant_id")
    if (tenant is None) != (role == "platform_admin"):
        raise TokenError("role does not match tenant")
    return AccessClaims(
        user_id=uuid_claim(payload, "sub"),
        tenant_id=tenant,
        role=role,
        session_id=uuid_claim(payload, "sid"),
        expires_at=int(payload["exp"]),
    )


def new_refresh(tenant_id: str | None, prefix: str = REFRESH_PREFIX) -> tuple[str, bytes]:
    """A fresh refresh token (or, with another prefix, another opaque scoped secret such as
    an invitation) and the digest the server stores."""
    secret = secrets.token_bytes(32)
    text = base64.urlsafe_b64encode(secret).decode().rstrip("=")
    return f"{prefix}.{tenant_id or PLATFORM_SCOPE}.{text}", hashlib.sha256(secret).digest()


def parse_refresh(token: str, prefix: str = REFRESH_PREFIX) -> tuple[str | None, bytes]:
    """(tenant id or None for platform, digest of the secret); TokenError when malformed."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != prefix or len(parts[2]) != 43:
        raise TokenError("malformed refresh token")
    scope = None if parts[1] == PLATFORM_SCOPE else uuid_claim({"scope": parts[1]}, "scope")
    try:
        secret = base64.urlsafe_b64decode(parts[2] + "=")
    except (ValueError, TypeError):
        raise TokenError("malformed refresh token") from None
    if len(secret) != 32:
        raise TokenError("malformed refresh token")
    return scope, hashlib.sha256(secret).digest()


# --- dependencies --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    """Whoever the request's access token belongs to, checked against Postgres."""

    user_id: str
    tenant_id: str | None
    role: Role
    session_id: str
    email: str = field(repr=False)

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.email)


@dataclass(frozen=True, slots=True)
class Member:
    """A tenant's user (owner, admin or viewer) acting on that tenant."""

    user_id: str
    tenant_id: str
    role: TenantRole
    session_id: str
    email: str = field(repr=False)

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.email)

    @property
    def can_write(self) -> bool:
        return self.role in EDITOR_ROLES


def get_admin(request: Request) -> AdminState:
    state: AdminState = request.app.state.admin
    return state


Admin = Annotated[AdminState, Depends(get_admin)]

bearer = HTTPBearer(
    auto_error=False,
    description="Access token from POST /auth/login or /auth/refresh (15 minutes).",
)


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def current_principal(
    ctx: Ctx,
    admin: Admin,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise unauthorized("missing bearer token")
    try:
        claims = verify_access(admin.ring, credentials.credentials)
    except TokenError:
        raise unauthorized("invalid or expired token") from None
    user = await users.session_user(
        await ctx.db(), claims.tenant_id, claims.session_id, claims.user_id
    )
    if user is None:
        raise unauthorized("session has ended; log in again")
    return Principal(user.user_id, user.tenant_id, user.role, claims.session_id, user.email)


CurrentUser = Annotated[Principal, Depends(current_principal)]


def tenant_member(principal: CurrentUser) -> Member:
    role = _TENANT_ROLES.get(principal.role)
    if principal.tenant_id is None or role is None:
        raise HTTPException(
            403, "platform admins manage tenants (/tenants); this route is for a tenant's users"
        )
    return Member(
        principal.user_id, principal.tenant_id, role, principal.session_id, principal.email
    )


TenantUser = Annotated[Member, Depends(tenant_member)]


def tenant_editor(member: TenantUser) -> Member:
    if not member.can_write:
        raise HTTPException(403, "your role (viewer) can read but not change this tenant")
    return member


TenantEditor = Annotated[Member, Depends(tenant_editor)]


def platform_admin(principal: CurrentUser) -> Principal:
    if principal.role != "platform_admin":
        raise HTTPException(403, "only platform admins may do this")
    return principal


PlatformAdmin = Annotated[Principal, Depends(platform_admin)]


def client_ip(request: Request) -> str:
    """The client's address: the peer's, or, when the peer is a proxy listed in
    NEUROSPHERE_FORWARDED_ALLOW_IPS, the address its X-Forwarded-For names (admin_api.listener)."""
    return request.client.host if request.client is not None else "unknown"
