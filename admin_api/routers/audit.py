"""/audit: who changed what and when. A tenant's owners and admins read their tenant's log;
platform admins read any tenant's (/tenants/{tenant_id}/audit) and the platform's own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from admin_api.auth import PlatformAdmin, TenantEditor
from admin_api.schemas.audit import AuditEntryPublic
from admin_api.schemas.common import ERRORS, Limit, Page
from admin_api.webhooks import Ctx
from memory import audit, tenant_admin
from memory.admin_db import BadCursor, decode_cursor, encode_cursor

router = APIRouter(responses=ERRORS, tags=["audit"])

Action = Annotated[str, Query(min_length=3, max_length=64, pattern=r"^[a-z_]+\.[a-z_]+$")]
AuditCursor = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    action: str | None
    limit: int
    before: int | None  # the entry id to continue after


def _query(
    action: Action | None = None, limit: Limit = 50, cursor: AuditCursor | None = None
) -> AuditQuery:
    """The query parameters every audit listing takes; a cursor that is not ours is a 400."""
    before = None
    if cursor is not None:
        try:
            before = int(decode_cursor(cursor)[1])
        except (BadCursor, ValueError):
            raise HTTPException(400, "malformed cursor") from None
        if not 0 < before < 2**63:
            raise HTTPException(400, "malformed cursor")
    return AuditQuery(action, limit, before)


AuditParams = Annotated[AuditQuery, Depends(_query)]


async def _page(ctx: Ctx, tenant_id: str | None, query: AuditQuery) -> Page[AuditEntryPublic]:
    limit = query.limit
    rows = await audit.list_entries(
        await ctx.db(), tenant_id, before=query.before, action=query.action, limit=limit + 1
    )
    page = rows[:limit]
    next_cursor = encode_cursor(None, str(page[-1].entry_id)) if len(rows) > limit else None
    return Page[AuditEntryPublic](
        items=[
            AuditEntryPublic(
                entry_id=e.entry_id,
                at=e.at,
                actor_id=e.actor_id,
                actor_email=e.actor_email,
                action=e.action,
                target=e.target,
                changes=e.changes,
            )
            for e in page
        ],
        next_cursor=next_cursor,
    )


@router.get("/audit", response_model=Page[AuditEntryPublic])
async def tenant_audit(
    member: TenantEditor, ctx: Ctx, query: AuditParams
) -> Page[AuditEntryPublic]:
    """This tenant's log, newest first."""
    return await _page(ctx, member.tenant_id, query)


@router.get("/platform/audit", response_model=Page[AuditEntryPublic])
async def platform_audit(
    principal: PlatformAdmin, ctx: Ctx, query: AuditParams
) -> Page[AuditEntryPublic]:
    """Platform events (platform admins' own logins and sessions), newest first."""
    return await _page(ctx, None, query)


@router.get("/tenants/{tenant_id}/audit", response_model=Page[AuditEntryPublic])
async def any_tenant_audit(
    tenant_id: uuid.UUID,
    principal: PlatformAdmin,
    ctx: Ctx,
    query: AuditParams,
) -> Page[AuditEntryPublic]:
    if await tenant_admin.get_tenant(await ctx.db(), str(tenant_id)) is None:
        raise HTTPException(404, "no such tenant")
    return await _page(ctx, str(tenant_id), query)
