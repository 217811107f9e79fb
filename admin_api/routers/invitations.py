"""Invitations: instead of choosing someone's password, an owner or admin (or a platform admin,
for a new tenant's first owner) invites an email with a role and hands over a link; the invited
person opens it in the console, chooses a password, and their account exists.

The link is `<PUBLIC_BASE_URL>/console/#/invite/<token>`: the token sits in the fragment, so no
server or proxy log ever sees it. Tokens are `nsi1.<tenant id>.<256-bit secret>` (the form of
refresh tokens, admin_api.auth); only SHA-256 of the secret is stored, the link works once and
for INVITATION_TTL_S. Owners may invite any role, admins not owners - as when creating a user.
A refused password loses nothing: the link still works.
"""

from __future__ import annotations

import uuid

import structlog
from fastapi import APIRouter, HTTPException, Request

from admin_api.auth import Admin, PlatformAdmin, TenantEditor, client_ip, new_refresh, parse_refresh
from admin_api.passwords import PasswordRejected, check_policy
from admin_api.routers.auth import me_public
from admin_api.routers.users import may_assign, tenant_exists
from admin_api.schemas.auth import MePublic
from admin_api.schemas.common import ERRORS
from admin_api.schemas.invitations import (
    InvitationAccept,
    InvitationCreate,
    InvitationInfo,
    InvitationLookup,
    InvitationPublic,
)
from admin_api.webhooks import Ctx
from engine.tokens import TokenError
from memory import invitations, users
from memory.audit import Actor
from memory.users import EmailTaken

log = structlog.get_logger(__name__)

router = APIRouter(responses=ERRORS, tags=["invitations"])

INVITATION_PREFIX = "nsi1"
INVITATION_TTL_S = 7 * 24 * 3600
_GONE = {
    "used": "this invitation has already been used; sign in instead",
    "expired": "this invitation has expired; ask for a new one",
    "unknown": "this invitation link is not valid",
}


async def _invite(
    ctx: Ctx, tenant_id: str, body: InvitationCreate, actor_role: str, actor: Actor
) -> InvitationPublic:
    may_assign(actor_role, body.role)
    pool = await ctx.db()
    if await users.find_login(pool, body.email) is not None:
        raise HTTPException(409, "an account with this email already exists")
    token, digest = new_refresh(tenant_id, INVITATION_PREFIX)
    made = await invitations.create_invitation(
        pool,
        tenant_id,
        digest,
        email=body.email,
        role=body.role,
        display_name=body.display_name,
        actor=actor,
        ttl_s=INVITATION_TTL_S,
    )
    log.info("admin_user_invited", tenant_id=tenant_id, role=body.role, user_id=actor.user_id)
    base = ctx.config.public_base_url.rstrip("/")
    return InvitationPublic(
        email=made.email,
        role=body.role,
        expires_at=made.expires_at,
        token=token,
        url=f"{base}/console/#/invite/{token}",
    )


@router.post("/users/invitations", response_model=InvitationPublic, status_code=201)
async def invite_user(body: InvitationCreate, member: TenantEditor, ctx: Ctx) -> InvitationPublic:
    """Invite someone to this tenant with a role; hand them the link."""
    return await _invite(ctx, member.tenant_id, body, member.role, member.actor)


@router.post("/tenants/{tenant_id}/invitations", response_model=InvitationPublic, status_code=201)
async def invite_tenant_user(
    tenant_id: uuid.UUID, body: InvitationCreate, principal: PlatformAdmin, ctx: Ctx
) -> InvitationPublic:
    """Invite a tenant's user (its first owner, typically)."""
    tenant = await tenant_exists(ctx, tenant_id)
    return await _invite(ctx, tenant, body, principal.role, principal.actor)


async def _scope(request: Request, ctx: Ctx, admin: Admin, token: str) -> tuple[str, bytes]:
    wait = await admin.limits.hit(await ctx.db(), admin.refresh_by_ip, client_ip(request))
    if wait is not None:
        raise HTTPException(429, "too many attempts; slow down", headers={"Retry-After": "60"})
    try:
        scope, digest = parse_refresh(token, INVITATION_PREFIX)
    except TokenError:
        scope = None
    if scope is None:
        raise HTTPException(404, _GONE["unknown"])
    return scope, digest


@router.post("/auth/invitation", response_model=InvitationInfo)
async def look_up_invitation(
    body: InvitationLookup, request: Request, ctx: Ctx, admin: Admin
) -> InvitationInfo:
    """What an invitation is for (email, role), while it can be used; 404/410 otherwise."""
    tenant_id, digest = await _scope(request, ctx, admin, body.token)
    found = await invitations.peek_invitation(await ctx.db(), tenant_id, digest)
    if found.state != "open":
        raise HTTPException(404 if found.state == "unknown" else 410, _GONE[found.state])
    return InvitationInfo(email=found.email, role=found.role, expires_at=found.expires_at)


@router.post("/auth/invitation/accept", response_model=MePublic, status_code=201)
async def accept_invitation(
    body: InvitationAccept, request: Request, ctx: Ctx, admin: Admin
) -> MePublic:
    """Create the invited account with this password; then log in as usual."""
    tenant_id, digest = await _scope(request, ctx, admin, body.token)
    pool = await ctx.db()
    found = await invitations.peek_invitation(pool, tenant_id, digest)
    if found.state != "open":
        raise HTTPException(404 if found.state == "unknown" else 410, _GONE[found.state])
    try:
        password = check_policy(body.password, email=found.email)
    except PasswordRejected as exc:
        raise HTTPException(422, f"password: {exc}") from None
    password_hash = await admin.passwords.hash(password)
    try:
        accepted = await invitations.accept_invitation(pool, tenant_id, digest, password_hash)
    except EmailTaken:
        raise HTTPException(409, "an account with this email already exists") from None
    if accepted.user is None:
        state = accepted.state
        raise HTTPException(404 if state == "unknown" else 410, _GONE[state])
    log.info("admin_invitation_accepted", tenant_id=tenant_id, user_id=accepted.user.user_id)
    return me_public(accepted.user)
