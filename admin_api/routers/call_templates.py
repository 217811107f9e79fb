"""/call-templates: what the post-call job extracts, per kind of call (memory.call_templates).

`GET /call-templates/ready` lists the ready insurance set; `POST /call-templates/ready/{key}`
switches one on for the agency (a copy it may then change with PUT); `PUT /call-templates/{key}`
adds or replaces a template of its own; `PATCH` switches one on or off; `DELETE` removes it.
The post-call job of every call that ends afterwards uses the templates that are on.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response

from admin_api.auth import TenantEditor, TenantUser
from admin_api.schemas.call_templates import (
    TEMPLATE_KEY,
    CallTemplatePublic,
    CallTemplateSet,
    CallTemplateSwitch,
    template_public,
)
from admin_api.schemas.common import ERRORS, Page
from admin_api.webhooks import Ctx
from memory import template_store
from memory.call_templates import NO_TEMPLATE, READY, CallTemplate
from memory.template_store import StoredTemplate, TooManyTemplates

router = APIRouter(responses=ERRORS, prefix="/call-templates", tags=["call templates"])
Key = Annotated[str, Path(pattern=TEMPLATE_KEY)]


def _public(stored: StoredTemplate) -> CallTemplatePublic:
    template = stored.template
    return template_public(template, ready=template.key in READY, updated_at=stored.updated_at)


def _key(key: str) -> str:
    if key == NO_TEMPLATE:
        raise HTTPException(422, f"'{NO_TEMPLATE}' is reserved (no template fits the call)")
    return key


@router.get("", response_model=Page[CallTemplatePublic])
async def list_templates(member: TenantUser, ctx: Ctx) -> Page[CallTemplatePublic]:
    """The agency's templates, on and off, in one page."""
    rows = await template_store.list_templates(await ctx.db(), member.tenant_id)
    return Page[CallTemplatePublic](items=[_public(r) for r in rows], next_cursor=None)


@router.get("/ready", response_model=Page[CallTemplatePublic])
async def ready_templates(member: TenantUser) -> Page[CallTemplatePublic]:
    """The ready insurance templates an agency can switch on."""
    items = [template_public(t, ready=True, updated_at=None) for t in READY.values()]
    return Page[CallTemplatePublic](items=items, next_cursor=None)


async def _save(ctx: Ctx, member: TenantEditor, template: CallTemplate) -> StoredTemplate:
    try:
        return await template_store.save_template(
            await ctx.db(), member.tenant_id, template, member.actor
        )
    except TooManyTemplates as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/ready/{key}", response_model=CallTemplatePublic)
async def switch_on_ready(key: Key, member: TenantEditor, ctx: Ctx) -> CallTemplatePublic:
    """Switch a ready template on (as it ships; a change made to it earlier is replaced)."""
    ready = READY.get(key)
    if ready is None:
        raise HTTPException(404, "no such ready template")
    return _public(await _save(ctx, member, ready))


@router.put("/{key}", response_model=CallTemplatePublic)
async def set_template(
    key: Key, body: CallTemplateSet, member: TenantEditor, ctx: Ctx
) -> CallTemplatePublic:
    """Add a template or replace one (its fields, wording, on or off)."""
    return _public(await _save(ctx, member, body.template(_key(key))))


@router.patch("/{key}", response_model=CallTemplatePublic)
async def switch(
    key: Key, body: CallTemplateSwitch, member: TenantEditor, ctx: Ctx
) -> CallTemplatePublic:
    """Switch a template on or off, keeping it."""
    pool = await ctx.db()
    rows = await template_store.list_templates(pool, member.tenant_id)
    found = next((r.template for r in rows if r.template.key == key), None)
    if found is None:
        raise HTTPException(404, "no such call template")
    return _public(await _save(ctx, member, replace(found, enabled=body.enabled)))


@router.delete("/{key}", status_code=204)
async def remove_template(key: Key, member: TenantEditor, ctx: Ctx) -> Response:
    if not await template_store.remove_template(
        await ctx.db(), member.tenant_id, key, member.actor
    ):
        raise HTTPException(404, "no such call template")
    return Response(status_code=204)
