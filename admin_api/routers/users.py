"""Users of a tenant: its owners, admins and viewers.

A tenant's owners and admins manage its users at /users; platform admins manage any tenant's
users at /tenants/{tenant_id}/users (that is how a new tenant gets its first owner). Owners may
give any role; admins may add and change admins and viewers but not owners. Nobody changes
their own role or disables themselves (a tenant cannot lock its last owner out by accident).
Disabling a user ends all their sessions at once. Users are never deleted, only disabled, so
the audit log keeps naming them.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException

from admin_api.auth import Admin, PlatformAdmin, TenantEditor, TenantUser
from admin_api.passwords import PasswordRejected, check_policy
from admin_api.schemas.common import ERRORS, Page
from admin_api.schemas.users import UserCreate, UserPublic, UserUpdate
from admin_api.state import AdminState
from admin_api.webhooks import Ctx
from memory import tenant_admin, users
from memory.audit import Actor
from memory.users import AdminUser, EmailTaken, NewUser

router = APIRouter(responses=ERRORS, tags=["users"])


def user_public(user: AdminUser) -> UserPublic:
    return UserPublic(
        user_id=user.user_id,
        tenant_id=user.tenant_id,
        email=user.email,
        role=user.role,
        display_name=user.display_name,
        disabled=user.disabled,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def may_assign(actor_role: str, role: str | None) -> None:
    if role == "owner" and actor_role not in ("owner", "platform_admin"):
        raise HTTPException(403, "only an owner can make someone an owner")


async def _create(
    ctx: Ctx, admin: AdminState, tenant_id: str, body: UserCreate, actor_role: str, actor: Actor
) -> UserPublic:
    may_assign(actor_role, body.role)
    try:
        password = check_policy(body.password, email=body.email)
    except PasswordRejected as exc:
        raise HTTPException(422, f"password: {exc}") from None
    new = NewUser(
        tenant_id=tenant_id,
        email=body.email,
        role=body.role,
        password_hash=await admin.passwords.hash(password),
        display_name=body.display_name,
    )
    try:
        user = await users.create_user(await ctx.db(), new, actor)
    except EmailTaken:
        raise HTTPException(409, "an account with this email already exists") from None
    return user_public(user)


async def _update(
    ctx: Ctx,
    tenant_id: str,
    user_id: uuid.UUID,
    body: UserUpdate,
    actor_role: str,
    actor: Actor,
) -> UserPublic:
    pool = await ctx.db()
    target = await users.get_user(pool, tenant_id, str(user_id))
    if target is None:
        raise HTTPException(404, "no such user")
    if target.user_id == actor.user_id and (body.role is not None or body.disabled):
        raise HTTPException(403, "you cannot change your own role or disable yourself")
    if target.role == "owner" and actor_role not in ("owner", "platform_admin"):
        raise HTTPException(403, "only an owner can change an owner")
    may_assign(actor_role, body.role)
    updated = await users.update_user(
        pool,
        tenant_id,
        str(user_id),
        actor,
        role=body.role,
        display_name=body.display_name,
        disabled=body.disabled,
    )
    if updated is None:
        raise HTTPException(404, "no such user")
    return user_public(updated)


# --- a tenant's own users ------------------------------------------------------------------------


@router.get("/users", response_model=Page[UserPublic])
async def list_users(member: TenantUser, ctx: Ctx) -> Page[UserPublic]:
    """Every user of the tenant, in one page."""
    found = await users.list_users(await ctx.db(), member.tenant_id)
    return Page[UserPublic](items=[user_public(u) for u in found], next_cursor=None)


@router.post("/users", response_model=UserPublic, status_code=201)
async def create_user(body: UserCreate, member: TenantEditor, ctx: Ctx, admin: Admin) -> UserPublic:
    return await _create(ctx, admin, member.tenant_id, body, member.role, member.actor)


@router.get("/users/{user_id}", response_model=UserPublic)
async def get_user(user_id: uuid.UUID, member: TenantUser, ctx: Ctx) -> UserPublic:
    user = await users.get_user(await ctx.db(), member.tenant_id, str(user_id))
    if user is None:
        raise HTTPException(404, "no such user")
    return user_public(user)


@router.patch("/users/{user_id}", response_model=UserPublic)
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, member: TenantEditor, ctx: Ctx
) -> UserPublic:
    return await _update(ctx, member.tenant_id, user_id, body, member.role, member.actor)


# --- any tenant's users, for platform admins -----------------------------------------------------


async def tenant_exists(ctx: Ctx, tenant_id: uuid.UUID) -> str:
    if await tenant_admin.get_tenant(await ctx.db(), str(tenant_id)) is None:
        raise HTTPException(404, "no such tenant")
    return str(tenant_id)


@router.get("/tenants/{tenant_id}/users", response_model=Page[UserPublic])
async def list_tenant_users(
    tenant_id: uuid.UUID, principal: PlatformAdmin, ctx: Ctx
) -> Page[UserPublic]:
    tenant = await tenant_exists(ctx, tenant_id)
    found = await users.list_users(await ctx.db(), tenant)
    return Page[UserPublic](items=[user_public(u) for u in found], next_cursor=None)


@router.post("/tenants/{tenant_id}/users", response_model=UserPublic, status_code=201)
async def create_tenant_user(
    tenant_id: uuid.UUID, body: UserCreate, principal: PlatformAdmin, ctx: Ctx, admin: Admin
) -> UserPublic:
    tenant = await tenant_exists(ctx, tenant_id)
    return await _create(ctx, admin, tenant, body, principal.role, principal.actor)


@router.patch("/tenants/{tenant_id}/users/{user_id}", response_model=UserPublic)
async def update_tenant_user(
    tenant_id: uuid.UUID, user_id: uuid.UUID, body: UserUpdate, principal: PlatformAdmin, ctx: Ctx
) -> UserPublic:
    tenant = await tenant_exists(ctx, tenant_id)
    return await _update(ctx, tenant, user_id, body, principal.role, principal.actor)
