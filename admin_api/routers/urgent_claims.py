"""/agent/urgent-claims: what counts as an urgent claim for the agency, and the number an urgent
claim is put through to while the office is closed (engine.urgent_claims). Part of the agent:
a change is a new version, audited, and the next call uses it."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from admin_api.auth import TenantEditor, TenantUser
from admin_api.routers.tenants import apply_to_calls
from admin_api.schemas.common import ERRORS
from admin_api.schemas.urgent_claims import UrgentClaimsBody
from admin_api.webhooks import Ctx
from engine.urgent_claims import UrgentClaims
from memory import urgent_settings

router = APIRouter(responses=ERRORS, tags=["agent"])


def _public(urgent: UrgentClaims) -> UrgentClaimsBody:
    return UrgentClaimsBody(conditions=list(urgent.conditions), number=urgent.number)


@router.get("/agent/urgent-claims", response_model=UrgentClaimsBody)
async def get_urgent(member: TenantUser, ctx: Ctx) -> UrgentClaimsBody:
    urgent = await urgent_settings.get_urgent(await ctx.db(), member.tenant_id)
    if urgent is None:
        raise HTTPException(404, "this tenant has no agent")
    return _public(urgent)


@router.put("/agent/urgent-claims", response_model=UrgentClaimsBody)
async def set_urgent(body: UrgentClaimsBody, member: TenantEditor, ctx: Ctx) -> UrgentClaimsBody:
    urgent = UrgentClaims(tuple(body.conditions), body.number)
    if not await urgent_settings.set_urgent(
        await ctx.db(), member.tenant_id, urgent, actor=member.actor
    ):
        raise HTTPException(404, "this tenant has no agent")
    await apply_to_calls(ctx, member.tenant_id)
    return _public(urgent)
