"""/tenants/{id}/compliance and /platform/settings: where the agent must disclose that it is an
AI. Platform admins set a tenant's jurisdiction and policy and can make disclosure mandatory for
every tenant; a tenant's owners read their own. A greeting that does not disclose gets a
disclosure line before it wherever it is required (prompts.disclosure); the agent preview
shows the greeting exactly as it will be spoken.

A tenant's change reaches its next call at once; the platform switch reaches every tenant's
next call within the tenant actors' config refresh (30 s).
"""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from admin_api.auth import PlatformAdmin, TenantUser
from admin_api.routers.tenants import apply_to_calls
from admin_api.schemas.common import ERRORS
from admin_api.webhooks import Ctx
from memory import compliance
from prompts.disclosure import AI_DISCLOSURE_STATES, disclosure_required

router = APIRouter(responses=ERRORS, tags=["compliance"])


class ComplianceBody(BaseModel):
    """`jurisdiction`: the US state whose law governs the agency's calls (two capital letters,
    e.g. "CA"), or null. `ai_disclosure`: "always", or "jurisdiction" (only where a law
    requires it)."""

    model_config = ConfigDict(extra="forbid")

    jurisdiction: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    ai_disclosure: Literal["always", "jurisdiction"] = "jurisdiction"


class CompliancePublic(ComplianceBody):
    disclosure_required: bool = Field(
        description="Whether the next call's greeting will disclose the AI, all rules applied."
    )
    states_requiring_disclosure: list[str]


class PlatformSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ai_disclosure_mandatory: bool


async def _public(ctx: Ctx, tenant_id: str) -> CompliancePublic:
    pool = await ctx.db()
    value = await compliance.tenant_compliance(pool, tenant_id)
    if value is None:
        raise HTTPException(404, "no such tenant")
    mandatory = await compliance.platform_disclosure_mandatory(pool)
    return CompliancePublic(
        jurisdiction=value.jurisdiction,
        ai_disclosure=value.ai_disclosure,  # type: ignore[arg-type]
        disclosure_required=disclosure_required(
            policy=value.ai_disclosure,
            jurisdiction=value.jurisdiction,
            platform_mandatory=mandatory,
        ),
        states_requiring_disclosure=sorted(AI_DISCLOSURE_STATES),
    )


@router.get("/tenants/{tenant_id}/compliance", response_model=CompliancePublic)
async def get_compliance(
    tenant_id: uuid.UUID, principal: PlatformAdmin, ctx: Ctx
) -> CompliancePublic:
    return await _public(ctx, str(tenant_id))


@router.put("/tenants/{tenant_id}/compliance", response_model=CompliancePublic)
async def set_compliance(
    tenant_id: uuid.UUID, body: ComplianceBody, principal: PlatformAdmin, ctx: Ctx
) -> CompliancePublic:
    value = compliance.TenantCompliance(body.jurisdiction, body.ai_disclosure)
    if not await compliance.set_tenant_compliance(
        await ctx.db(), str(tenant_id), value, actor=principal.actor
    ):
        raise HTTPException(404, "no such tenant")
    await apply_to_calls(ctx, str(tenant_id))
    return await _public(ctx, str(tenant_id))


@router.get("/agent/compliance", response_model=CompliancePublic)
async def own_compliance(member: TenantUser, ctx: Ctx) -> CompliancePublic:
    """A tenant's users read what applies to their agent (platform admins set it)."""
    return await _public(ctx, member.tenant_id)


@router.get("/platform/settings", response_model=PlatformSettings)
async def get_platform_settings(principal: PlatformAdmin, ctx: Ctx) -> PlatformSettings:
    mandatory = await compliance.platform_disclosure_mandatory(await ctx.db())
    return PlatformSettings(ai_disclosure_mandatory=mandatory)


@router.put("/platform/settings", response_model=PlatformSettings)
async def set_platform_settings(
    body: PlatformSettings, principal: PlatformAdmin, ctx: Ctx
) -> PlatformSettings:
    await compliance.set_platform_disclosure_mandatory(
        await ctx.db(), body.ai_disclosure_mandatory, actor=principal.actor
    )
    ctx.forget_numbers()
    return body
