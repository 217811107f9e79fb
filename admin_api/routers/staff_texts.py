"""/staff-texts: which staff numbers get a text (through the outbox) when the agent takes a
message or a call has been analysed; and the numbers that replied STOP, which are never texted
until an admin records that they opted in again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response

from admin_api.auth import TenantEditor, TenantUser
from admin_api.schemas.common import E164_PATTERN, ERRORS, Page
from admin_api.schemas.integrations import OptOutPublic, StaffTextPublic, StaffTextSet
from admin_api.webhooks import Ctx
from memory import staff_texts
from memory.staff_texts import TooManyRecipients

router = APIRouter(responses=ERRORS, prefix="/staff-texts", tags=["integrations"])
Number = Annotated[str, Path(pattern=E164_PATTERN)]


@router.get("", response_model=Page[StaffTextPublic])
async def list_recipients(member: TenantUser, ctx: Ctx) -> Page[StaffTextPublic]:
    """Every staff number (at most MAX_RECIPIENTS), in one page."""
    rows = await staff_texts.list_recipients(await ctx.db(), member.tenant_id)
    items = [
        StaffTextPublic(number=r.number, events=list(r.events), created_at=r.created_at)
        for r in rows
    ]
    return Page[StaffTextPublic](items=items, next_cursor=None)


@router.post("", response_model=StaffTextPublic)
async def set_recipient(body: StaffTextSet, member: TenantEditor, ctx: Ctx) -> StaffTextPublic:
    """Add a staff number, or change which events it is texted for."""
    try:
        row = await staff_texts.set_recipient(
            await ctx.db(), member.tenant_id, body.number, sorted(set(body.events)), member.actor
        )
    except TooManyRecipients as exc:
        raise HTTPException(409, str(exc)) from None
    return StaffTextPublic(number=row.number, events=list(row.events), created_at=row.created_at)


@router.get("/opt-outs", response_model=Page[OptOutPublic])
async def list_opt_outs(member: TenantUser, ctx: Ctx) -> Page[OptOutPublic]:
    """The staff numbers that replied STOP, newest first, in one page."""
    rows = await staff_texts.list_opt_outs(await ctx.db(), member.tenant_id)
    items = [OptOutPublic(number=r.number, opted_out_at=r.opted_out_at) for r in rows]
    return Page[OptOutPublic](items=items, next_cursor=None)


@router.delete("/opt-outs/{number}", status_code=204)
async def opt_in(number: Number, member: TenantEditor, ctx: Ctx) -> Response:
    if not await staff_texts.opt_in(await ctx.db(), member.tenant_id, number, member.actor):
        raise HTTPException(404, "that number has not opted out")
    return Response(status_code=204)


@router.delete("/{number}", status_code=204)
async def remove_recipient(number: Number, member: TenantEditor, ctx: Ctx) -> Response:
    if not await staff_texts.remove_recipient(
        await ctx.db(), member.tenant_id, number, member.actor
    ):
        raise HTTPException(404, "no such staff number")
    return Response(status_code=204)
