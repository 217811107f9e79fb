"""/custom-tools: tools an agency defines for its agent (name, description, JSON Schema of the
arguments, URL, signing secret, timeout). During a call the engine POSTs the validated
arguments there, signed (engine.agency_tools).

The secret is write-only and stored sealed. In production only https:// URLs are taken; a dev
deployment also takes http:// to this machine (tests, the demo). Every change reloads the
tenant actor, so the next call offers the tools as they are now.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Response

from admin_api.auth import Admin, TenantEditor, TenantUser
from admin_api.routers.tenants import apply_to_calls
from admin_api.schemas.common import ERRORS, Page
from admin_api.schemas.custom_tools import CustomToolCreate, CustomToolPublic, CustomToolUpdate
from admin_api.webhooks import Ctx
from engine.secret_box import TOOL_LABEL, SecretBox
from memory import tenant_tools
from memory.tenant_tools import TenantTool, ToolDraft, ToolNameTaken, TooManyTools

router = APIRouter(responses=ERRORS, prefix="/custom-tools", tags=["agent"])


def _public(tool: TenantTool) -> CustomToolPublic:
    return CustomToolPublic.model_validate(tool)


def _check_scheme(url: str, admin: Admin) -> None:
    if urlsplit(url).scheme != "https" and not admin.config.plain_http_tools:
        raise HTTPException(422, "url: must be https:// in production")


def _seal(secret: str | None, admin: Admin) -> bytes | None:
    if secret is None:
        return None
    return SecretBox(admin.config.jwt_secret, TOOL_LABEL).seal(secret)


@router.get("", response_model=Page[CustomToolPublic])
async def list_custom_tools(member: TenantUser, ctx: Ctx) -> Page[CustomToolPublic]:
    """Every custom tool (at most MAX_TOOLS), in one page."""
    tools = await tenant_tools.list_tools(await ctx.db(), member.tenant_id)
    return Page[CustomToolPublic](items=[_public(t) for t in tools], next_cursor=None)


@router.get("/{tool_id}", response_model=CustomToolPublic)
async def get_custom_tool(tool_id: uuid.UUID, member: TenantUser, ctx: Ctx) -> CustomToolPublic:
    tool = await tenant_tools.get_tool(await ctx.db(), member.tenant_id, str(tool_id))
    if tool is None:
        raise HTTPException(404, "no such custom tool")
    return _public(tool)


@router.post("", response_model=CustomToolPublic, status_code=201)
async def create_custom_tool(
    body: CustomToolCreate, member: TenantEditor, ctx: Ctx, admin: Admin
) -> CustomToolPublic:
    _check_scheme(body.url, admin)
    draft = ToolDraft(
        name=body.name,
        description=body.description,
        parameters=body.parameters,
        url=body.url,
        sealed_secret=_seal(body.secret, admin),
        timeout_ms=body.timeout_ms,
        enabled=body.enabled,
    )
    try:
        tool = await tenant_tools.create_tool(await ctx.db(), member.tenant_id, draft, member.actor)
    except (TooManyTools, ToolNameTaken) as exc:
        raise HTTPException(409, str(exc)) from None
    await apply_to_calls(ctx, member.tenant_id)
    return _public(tool)


@router.patch("/{tool_id}", response_model=CustomToolPublic)
async def update_custom_tool(
    tool_id: uuid.UUID, body: CustomToolUpdate, member: TenantEditor, ctx: Ctx, admin: Admin
) -> CustomToolPublic:
    db = await ctx.db()
    current = await tenant_tools.get_tool(db, member.tenant_id, str(tool_id))
    if current is None:
        raise HTTPException(404, "no such custom tool")
    url = body.url if body.url is not None else current.url
    _check_scheme(url, admin)
    draft = ToolDraft(
        name=body.name if body.name is not None else current.name,
        description=body.description if body.description is not None else current.description,
        parameters=body.parameters if body.parameters is not None else current.parameters,
        url=url,
        sealed_secret=_seal(body.secret, admin),
        timeout_ms=body.timeout_ms if body.timeout_ms is not None else current.timeout_ms,
        enabled=body.enabled if body.enabled is not None else current.enabled,
    )
    try:
        tool = await tenant_tools.update_tool(
            db, member.tenant_id, str(tool_id), draft, member.actor
        )
    except ToolNameTaken as exc:
        raise HTTPException(409, str(exc)) from None
    if tool is None:
        raise HTTPException(404, "no such custom tool")
    await apply_to_calls(ctx, member.tenant_id)
    return _public(tool)


@router.delete("/{tool_id}", status_code=204)
async def delete_custom_tool(tool_id: uuid.UUID, member: TenantEditor, ctx: Ctx) -> Response:
    if not await tenant_tools.delete_tool(
        await ctx.db(), member.tenant_id, str(tool_id), member.actor
    ):
        raise HTTPException(404, "no such custom tool")
    await apply_to_calls(ctx, member.tenant_id)
    return Response(status_code=204)
