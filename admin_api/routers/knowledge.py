"""/knowledge: the agency's facts, rules, procedures and FAQs that the agent can search.

Entries are embedded by the memory side for search; an entry created or edited here is stored
without a vector until then (see memory.knowledge_admin)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from admin_api.auth import TenantEditor, TenantUser
from admin_api.schemas.common import ERRORS, Page
from admin_api.schemas.knowledge import (
    KnowledgeCreate,
    KnowledgeKind,
    KnowledgePublic,
    KnowledgeUpdate,
)
from admin_api.webhooks import Ctx
from memory import knowledge_admin
from memory.caller_records import KnowledgeEntry
from memory.knowledge_admin import TitleTaken

router = APIRouter(responses=ERRORS, prefix="/knowledge", tags=["knowledge"])

MAX_ENTRIES = 1000


def _public(entry: KnowledgeEntry) -> KnowledgePublic:
    return KnowledgePublic(
        entry_id=entry.entry_id,
        kind=entry.kind,  # type: ignore[arg-type]
        title=entry.title,
        body=entry.body,
        updated_at=entry.updated_at,
    )


@router.get("", response_model=Page[KnowledgePublic])
async def list_entries(
    member: TenantUser,
    ctx: Ctx,
    kind: Annotated[KnowledgeKind | None, Query()] = None,
) -> Page[KnowledgePublic]:
    """Every entry (at most MAX_ENTRIES per tenant), in one page."""
    entries = await knowledge_admin.list_entries(
        await ctx.db(), member.tenant_id, kind=kind, limit=MAX_ENTRIES
    )
    return Page[KnowledgePublic](items=[_public(e) for e in entries], next_cursor=None)


@router.post("", response_model=KnowledgePublic, status_code=201)
async def create_entry(body: KnowledgeCreate, member: TenantEditor, ctx: Ctx) -> KnowledgePublic:
    try:
        entry = await knowledge_admin.create_entry(
            await ctx.db(), member.tenant_id, body.kind, body.title, body.body, member.actor
        )
    except TitleTaken as exc:
        raise HTTPException(409, str(exc)) from None
    return _public(entry)


@router.get("/{entry_id}", response_model=KnowledgePublic)
async def get_entry(entry_id: uuid.UUID, member: TenantUser, ctx: Ctx) -> KnowledgePublic:
    entry = await knowledge_admin.get_entry(await ctx.db(), member.tenant_id, str(entry_id))
    if entry is None:
        raise HTTPException(404, "no such knowledge entry")
    return _public(entry)


@router.patch("/{entry_id}", response_model=KnowledgePublic)
async def update_entry(
    entry_id: uuid.UUID, body: KnowledgeUpdate, member: TenantEditor, ctx: Ctx
) -> KnowledgePublic:
    pool = await ctx.db()
    current = await knowledge_admin.get_entry(pool, member.tenant_id, str(entry_id))
    if current is None:
        raise HTTPException(404, "no such knowledge entry")
    try:
        entry = await knowledge_admin.update_entry(
            pool,
            member.tenant_id,
            str(entry_id),
            member.actor,
            kind=body.kind or current.kind,
            title=body.title or current.title,
            body=body.body or current.body,
        )
    except TitleTaken as exc:
        raise HTTPException(409, str(exc)) from None
    if entry is None:
        raise HTTPException(404, "no such knowledge entry")
    return _public(entry)


@router.delete("/{entry_id}", status_code=204)
async def delete_entry(entry_id: uuid.UUID, member: TenantEditor, ctx: Ctx) -> None:
    if not await knowledge_admin.delete_entry(
        await ctx.db(), member.tenant_id, str(entry_id), member.actor
    ):
        raise HTTPException(404, "no such knowledge entry")
