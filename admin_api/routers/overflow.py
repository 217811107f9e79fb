"""/agent/overflow: what a caller gets when the node has no room for the call (engine.overflow):
the polite message, a transfer to the fallback number, or Twilio's queue. Part of the agent: a
change is a new version, audited, and the next call uses it."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from admin_api.auth import TenantEditor, TenantUser
from admin_api.routers.tenants import apply_to_calls
from admin_api.schemas.common import ERRORS
from admin_api.schemas.overflow import OverflowBody
from admin_api.webhooks import Ctx
from engine.overflow import Overflow
from memory import overflow_settings

router = APIRouter(responses=ERRORS, tags=["agent"])
NO_AGENT = "this tenant has no agent"


def _public(overflow: Overflow) -> OverflowBody:
    return OverflowBody(choice=overflow.choice, queue_max_wait_s=overflow.queue_max_wait_s)


@router.get("/agent/overflow", response_model=OverflowBody)
async def get_overflow(member: TenantUser, ctx: Ctx) -> OverflowBody:
    found = await overflow_settings.get_overflow(await ctx.db(), member.tenant_id)
    if found is None:
        raise HTTPException(404, NO_AGENT)
    return _public(found[0])


@router.put("/agent/overflow", response_model=OverflowBody)
async def set_overflow(body: OverflowBody, member: TenantEditor, ctx: Ctx) -> OverflowBody:
    pool = await ctx.db()
    found = await overflow_settings.get_overflow(pool, member.tenant_id)
    if found is None:
        raise HTTPException(404, NO_AGENT)
    if body.choice == "transfer" and not found[1]:
        raise HTTPException(
            422,
            "overflow 'transfer' needs the agent's fallback_number: set it first (PATCH /agent)",
        )
    overflow = Overflow(body.choice, body.queue_max_wait_s)
    if not await overflow_settings.set_overflow(
        pool, member.tenant_id, overflow, actor=member.actor
    ):
        raise HTTPException(404, NO_AGENT)
    await apply_to_calls(ctx, member.tenant_id)
    return _public(overflow)
