"""/deliveries: the delivery log of the outbox, newest first, with each attempt; replay one."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from admin_api.auth import TenantEditor, TenantUser
from admin_api.paging import after_cursor
from admin_api.schemas.common import ERRORS, Cursor, Limit, Page
from admin_api.schemas.integrations import (
    AttemptPublic,
    DeliveryDetail,
    DeliveryPublic,
    DeliveryStatus,
)
from admin_api.webhooks import Ctx
from memory import outbox_admin
from memory.admin_db import encode_cursor
from memory.outbox import EventType
from memory.outbox_admin import DeliveryRow

router = APIRouter(responses=ERRORS, prefix="/deliveries", tags=["integrations"])


def _public(row: DeliveryRow) -> DeliveryPublic:
    return DeliveryPublic(
        delivery_id=row.delivery_id,
        event_id=row.event_id,
        event_type=row.event_type,
        destination=row.destination,
        status=row.status,  # type: ignore[arg-type]
        attempts=row.attempts,
        last_status=row.last_status,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        next_attempt_at=row.next_attempt_at,
    )


@router.get("", response_model=Page[DeliveryPublic])
async def list_deliveries(
    member: TenantUser,
    ctx: Ctx,
    status: DeliveryStatus | None = None,
    event_type: EventType | None = None,
    limit: Limit = 50,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> Page[DeliveryPublic]:
    after = after_cursor(cursor, key=uuid.UUID)
    rows = await outbox_admin.list_deliveries(
        await ctx.db(),
        member.tenant_id,
        status=status,
        event_type=event_type,
        after=after,
        limit=limit + 1,
    )
    page = rows[:limit]
    next_cursor = (
        encode_cursor(page[-1].created_at, page[-1].delivery_id) if len(rows) > limit else None
    )
    return Page[DeliveryPublic](items=[_public(r) for r in page], next_cursor=next_cursor)


@router.get("/{delivery_id}", response_model=DeliveryDetail)
async def get_delivery(delivery_id: uuid.UUID, member: TenantUser, ctx: Ctx) -> DeliveryDetail:
    row = await outbox_admin.get_delivery(await ctx.db(), member.tenant_id, str(delivery_id))
    if row is None:
        raise HTTPException(404, "no such delivery")
    return DeliveryDetail(
        **_public(row).model_dump(),
        payload=row.payload or "",
        history=[
            AttemptPublic(
                at=a.at, duration_ms=a.duration_ms, status_code=a.status_code, error=a.error
            )
            for a in row.history
        ],
    )


@router.post("/{delivery_id}/replay", response_model=DeliveryPublic, status_code=202)
async def replay_delivery(delivery_id: uuid.UUID, member: TenantEditor, ctx: Ctx) -> DeliveryPublic:
    """Send a delivered or dead-lettered delivery again (same event id), from this engine's
    outbox queue; 409 while it is still pending or being sent."""
    pool = await ctx.db()
    key = str(delivery_id)
    queue = ctx.config.outbox_queue_name()
    if not await outbox_admin.replay(pool, member.tenant_id, key, member.actor, queue=queue):
        if await outbox_admin.get_delivery(pool, member.tenant_id, key) is None:
            raise HTTPException(404, "no such delivery")
        raise HTTPException(409, "the delivery is still on its way")
    row = await outbox_admin.get_delivery(pool, member.tenant_id, key)
    assert row is not None
    return _public(row)
