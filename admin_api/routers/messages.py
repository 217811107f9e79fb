"""/messages: messages and callback requests the agent took, newest first; mark them done."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from admin_api.auth import TenantEditor, TenantUser
from admin_api.paging import after_cursor
from admin_api.schemas.common import ERRORS, Cursor, Limit, Page
from admin_api.schemas.messages import MessagePublic, MessageStatusName, MessageUpdate
from admin_api.webhooks import Ctx
from memory import message_admin
from memory.admin_db import encode_cursor
from memory.messages import Message

router = APIRouter(responses=ERRORS, prefix="/messages", tags=["messages"])


def _public(message: Message) -> MessagePublic:
    return MessagePublic(
        message_id=message.message_id,
        call_sid=message.call_sid,
        caller_number=message.caller_number,
        caller_name=message.caller_name,
        reason=message.reason,
        preferred_time=message.preferred_time,
        callback_number=message.callback_number,
        status=message.status,  # type: ignore[arg-type]
        created_at=message.created_at,
        done_at=message.done_at,
        urgent=message.urgent,
    )


@router.get("", response_model=Page[MessagePublic])
async def list_messages(
    member: TenantUser,
    ctx: Ctx,
    status: MessageStatusName | None = None,
    limit: Limit = 50,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> Page[MessagePublic]:
    after = after_cursor(cursor, key=uuid.UUID)
    rows = await message_admin.list_page(
        await ctx.db(), member.tenant_id, status=status, after=after, limit=limit + 1
    )
    page = rows[:limit]
    next_cursor = (
        encode_cursor(page[-1].created_at, page[-1].message_id) if len(rows) > limit else None
    )
    return Page[MessagePublic](items=[_public(m) for m in page], next_cursor=next_cursor)


@router.patch("/{message_id}", response_model=MessagePublic)
async def update_message(
    message_id: uuid.UUID, body: MessageUpdate, member: TenantEditor, ctx: Ctx
) -> MessagePublic:
    """Mark a message done (or open again)."""
    message = await message_admin.set_status(
        await ctx.db(), member.tenant_id, str(message_id), body.status, member.actor
    )
    if message is None:
        raise HTTPException(404, "no such message")
    return _public(message)
