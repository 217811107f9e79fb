"""/notion: the agency's Notion workspace that callers, calls, messages and tasks are synced
into (through the outbox). The integration token is stored sealed and never shown again."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from admin_api.auth import Admin, TenantEditor, TenantUser
from admin_api.schemas.common import ERRORS
from admin_api.schemas.integrations import NotionLinkPublic, NotionLinkSet
from admin_api.webhooks import Ctx
from engine.secret_box import NOTION_LABEL, SecretBox
from memory import notion_links
from memory.notion_links import NotionLink

router = APIRouter(responses=ERRORS, prefix="/notion", tags=["integrations"])


def _public(link: NotionLink) -> NotionLinkPublic:
    return NotionLinkPublic(
        callers_database_id=link.callers_db,
        calls_database_id=link.calls_db,
        messages_database_id=link.messages_db,
        tasks_database_id=link.tasks_db,
        enabled=link.enabled,
        updated_at=link.updated_at,
    )


@router.get("", response_model=NotionLinkPublic)
async def get_link(member: TenantUser, ctx: Ctx) -> NotionLinkPublic:
    link = await notion_links.get_link(await ctx.db(), member.tenant_id)
    if link is None:
        raise HTTPException(404, "Notion is not linked")
    return _public(link)


@router.put("", response_model=NotionLinkPublic)
async def set_link(
    body: NotionLinkSet, member: TenantEditor, ctx: Ctx, admin: Admin
) -> NotionLinkPublic:
    """Link the workspace (or replace the link): events from now on are synced into it."""
    pool = await ctx.db()
    sealed = SecretBox(admin.config.jwt_secret, NOTION_LABEL).seal(body.token)
    databases = (
        body.callers_database_id,
        body.calls_database_id,
        body.messages_database_id,
        body.tasks_database_id,
    )
    await notion_links.set_link(pool, member.tenant_id, sealed, databases, member.actor)
    link = await notion_links.get_link(pool, member.tenant_id)
    assert link is not None
    return _public(link)


@router.delete("", status_code=204)
async def delete_link(member: TenantEditor, ctx: Ctx) -> Response:
    if not await notion_links.delete_link(await ctx.db(), member.tenant_id, member.actor):
        raise HTTPException(404, "Notion is not linked")
    return Response(status_code=204)
