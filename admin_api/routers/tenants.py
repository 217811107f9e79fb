"""/tenants: platform admins create, list, change and suspend tenants; a tenant's own users
read their tenant.

A change that the call path sees (numbers, time zone, limits, Twilio account, status) reloads
the tenant's actor before the response, so the very next call runs with it, and drops the
number cache of this replica. Suspending a tenant makes its numbers "not in service" and its
users unable to log in or use their tokens; nothing is deleted.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Query

from admin_api.auth import CurrentUser, PlatformAdmin
from admin_api.schemas.common import ERRORS, Cursor, Limit, Page
from admin_api.schemas.tenants import (
    TenantCreate,
    TenantListItem,
    TenantPublic,
    TenantStatusName,
    TenantUpdate,
)
from admin_api.webhooks import Ctx
from engine.secret_box import TWILIO_LABEL, SecretBox
from memory import tenant_admin
from memory.admin_db import BadCursor, decode_cursor, encode_cursor
from memory.tenant_admin import TenantDetail, TenantSpec, TenantStatus
from memory.tenants import NumberTaken

log = structlog.get_logger(__name__)

router = APIRouter(responses=ERRORS, prefix="/tenants", tags=["tenants"])


def tenant_public(detail: TenantDetail) -> TenantPublic:
    return TenantPublic(
        tenant_id=detail.tenant_id,
        name=detail.name,
        status=detail.status,
        time_zone=detail.time_zone,
        max_concurrent_calls=detail.max_concurrent_calls,
        business_hours=detail.business_hours,
        phone_numbers=list(detail.numbers),
        twilio_account_sid=detail.twilio_account_sid,
        twilio_auth_token_set=detail.twilio_auth_token_set,
        created_at=detail.created_at,
        updated_at=detail.updated_at,
    )


def _tokens(ctx: Ctx) -> SecretBox:
    """What seals a tenant's Twilio auth token for storage."""
    return SecretBox(ctx.config.jwt_secret, TWILIO_LABEL)


async def apply_to_calls(ctx: Ctx, tenant_id: str) -> None:
    """Make the next call see the change: reload the tenant actor, forget cached numbers."""
    ctx.forget_numbers()
    try:
        await ctx.gateway.reload(tenant_id)
    except Exception as exc:  # the actor reloads by itself within its TTL
        log.warning("tenant_reload_failed", tenant_id=tenant_id, error=repr(exc))


@router.post("", response_model=TenantPublic, status_code=201)
async def create_tenant(body: TenantCreate, principal: PlatformAdmin, ctx: Ctx) -> TenantPublic:
    spec = TenantSpec(
        name=body.name,
        time_zone=body.time_zone,
        max_concurrent_calls=body.max_concurrent_calls,
        business_hours=body.business_hours.model_dump(mode="json", exclude_defaults=True),
        numbers=tuple(body.phone_numbers),
        twilio_account_sid=body.twilio_account_sid,
        twilio_auth_token=body.twilio_auth_token,
    )
    try:
        detail = await tenant_admin.create_tenant(
            await ctx.db(), spec, principal.actor, tokens=_tokens(ctx)
        )
    except NumberTaken:
        raise HTTPException(409, "a phone number is already assigned to a tenant") from None
    await apply_to_calls(ctx, detail.tenant_id)
    log.info("tenant_created", tenant_id=detail.tenant_id, user_id=principal.user_id)
    return tenant_public(detail)


@router.get("", response_model=Page[TenantListItem])
async def list_tenants(
    principal: PlatformAdmin,
    ctx: Ctx,
    status: TenantStatusName | None = None,
    limit: Limit = 50,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> Page[TenantListItem]:
    after = None
    if cursor is not None:
        try:
            after = str(uuid.UUID(decode_cursor(cursor)[1]))
        except (BadCursor, ValueError):
            raise HTTPException(400, "malformed cursor") from None
    rows = await tenant_admin.list_tenants(
        await ctx.db(), after=after, limit=limit + 1, status=status
    )
    items = [
        TenantListItem(
            tenant_id=r.tenant_id,
            name=r.name,
            status=r.status,
            time_zone=r.time_zone,
            max_concurrent_calls=r.max_concurrent_calls,
            phone_numbers=list(r.numbers),
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in rows[:limit]
    ]
    next_cursor = encode_cursor(None, rows[limit - 1].tenant_id) if len(rows) > limit else None
    return Page[TenantListItem](items=items, next_cursor=next_cursor)


@router.get("/{tenant_id}", response_model=TenantPublic)
async def get_tenant(tenant_id: uuid.UUID, principal: CurrentUser, ctx: Ctx) -> TenantPublic:
    """Platform admins read any tenant; a tenant's own users (every role) read their own:
    its numbers, time zone, business hours and limits. Another tenant's id is 404."""
    if principal.role != "platform_admin" and principal.tenant_id != str(tenant_id):
        raise HTTPException(404, "no such tenant")
    detail = await tenant_admin.get_tenant(await ctx.db(), str(tenant_id))
    if detail is None:
        raise HTTPException(404, "no such tenant")
    return tenant_public(detail)


async def _change(
    ctx: Ctx, tenant_id: str, principal: PlatformAdmin, change: Any, action: str
) -> TenantPublic:
    try:
        detail = await tenant_admin.update_tenant(
            await ctx.db(), tenant_id, principal.actor, change, action=action, tokens=_tokens(ctx)
        )
    except NumberTaken:
        raise HTTPException(409, "a phone number is already assigned to a tenant") from None
    if detail is None:
        raise HTTPException(404, "no such tenant")
    await apply_to_calls(ctx, tenant_id)
    return tenant_public(detail)


@router.patch("/{tenant_id}", response_model=TenantPublic)
async def update_tenant(
    tenant_id: uuid.UUID, body: TenantUpdate, principal: PlatformAdmin, ctx: Ctx
) -> TenantPublic:
    """Change what is given. `twilio_auth_token` is write-only: set it, or null to remove."""
    given = body.model_fields_set
    for name in ("name", "phone_numbers", "time_zone", "max_concurrent_calls", "business_hours"):
        if name in given and getattr(body, name) is None:
            raise HTTPException(422, f"{name} cannot be null")

    def change(spec: TenantSpec) -> TenantSpec:
        changes: dict[str, Any] = {}
        if body.name is not None:
            changes["name"] = body.name
        if body.phone_numbers is not None:
            changes["numbers"] = tuple(body.phone_numbers)
        if body.time_zone is not None:
            changes["time_zone"] = body.time_zone
        if body.max_concurrent_calls is not None:
            changes["max_concurrent_calls"] = body.max_concurrent_calls
        if body.business_hours is not None:
            changes["business_hours"] = body.business_hours.model_dump(
                mode="json", exclude_defaults=True
            )
        if "twilio_account_sid" in given:
            changes["twilio_account_sid"] = body.twilio_account_sid
        if "twilio_auth_token" in given:
            changes["twilio_auth_token"] = body.twilio_auth_token
            changes["set_auth_token"] = True
        return replace(spec, **changes)

    return await _change(ctx, str(tenant_id), principal, change, "tenant.updated")


def _status(status: TenantStatus) -> Any:
    def change(spec: TenantSpec) -> TenantSpec:
        return replace(spec, status=status)

    return change


@router.post("/{tenant_id}/suspend", response_model=TenantPublic)
async def suspend_tenant(tenant_id: uuid.UUID, principal: PlatformAdmin, ctx: Ctx) -> TenantPublic:
    """Stop answering the tenant's numbers and lock its users out. Reversible."""
    return await _change(ctx, str(tenant_id), principal, _status("suspended"), "tenant.suspended")


@router.post("/{tenant_id}/activate", response_model=TenantPublic)
async def activate_tenant(tenant_id: uuid.UUID, principal: PlatformAdmin, ctx: Ctx) -> TenantPublic:
    return await _change(ctx, str(tenant_id), principal, _status("active"), "tenant.activated")
