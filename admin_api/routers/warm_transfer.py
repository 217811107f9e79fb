"""Twilio webhooks of a warm transfer (engine.warm_transfer), each signature-checked with the
tenant's auth token like every webhook (admin_api.webhooks):

- `POST /twilio/warm/hold`: the conference's wait URL while the caller holds: a message and a
  pause, looped by Twilio; the first one notes when the caller began holding.
- `POST /twilio/warm/accept?call=`: the whisper's `<Gather action>` on the target's call. The
  accept key joins the person to the conference (the caller stops holding; transfer.completed);
  any other key is a decline. A caller who hung up on hold is gone: the person is told so.
- `POST /twilio/warm/status?call=`: the target call's status callback. Busy, no-answer,
  failed, canceled, or a call that completed without being accepted, bring the caller back.
- `POST /twilio/warm/return`: the caller's call, redirected here by the tenant's actor when the
  transfer failed: the call resumes on a fresh actor from its turns, the agent told why.

A failure is recorded once (memory.warm_transfers) and the caller's redirect is handed to the
tenant's actor in the background, so Twilio gets its answer in milliseconds. `call` must name a
call of the tenant with a warm transfer under way: anything else is 400 or 404 and changes
nothing.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, HTTPException, Request, Response

from admin_api.context import WebhookContext
from admin_api.webhooks import (
    CALL_SID,
    TWIML,
    Ctx,
    Form,
    _call_sid,
    _tenant_checked,
    resume_stream,
)
from engine import twiml, warm_transfer
from engine.task_set import TaskSet
from memory import calls, warm_transfers

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/twilio/warm", tags=["twilio"], include_in_schema=False)

_redirects = TaskSet("warm_transfer_returns", log)


def _xml(body: str) -> Response:
    return Response(content=body, media_type=TWIML)


def _held_call(request: Request) -> str:
    sid = request.query_params.get("call", "")
    if not CALL_SID.match(sid):
        raise HTTPException(400, "call missing or malformed")
    return sid


async def _return_caller(
    ctx: WebhookContext, tenant_id: str, call_sid: str, result: warm_transfer.Result
) -> bool:
    """Record the failure once and have the caller's call brought back to the agent."""
    end = await warm_transfers.returned(
        await ctx.db(),
        tenant_id,
        call_sid,
        result,
        warm_transfer.return_note(result),
        outbox_queue=ctx.config.outbox_queue_name(),
    )
    if end is None:
        return False
    log.info("warm_transfer_failed", call_sid=call_sid, result=end.result, hold_ms=end.hold_ms)
    if end.result != warm_transfers.CALLER_HUNG_UP:  # else nobody is left to bring back
        _redirects.spawn(ctx.gateway.return_caller(tenant_id, call_sid))
    return True


@router.post("/hold")
async def hold(request: Request, ctx: Ctx, form: Form) -> Response:
    call_sid = _call_sid(form)
    tenant_id = await _tenant_checked(ctx, request, form)
    await warm_transfers.held(await ctx.db(), tenant_id, call_sid)
    return _xml(twiml.hold_music())


@router.post("/accept")
async def accept(request: Request, ctx: Ctx, form: Form) -> Response:
    held = _held_call(request)
    _call_sid(form)  # the target's call
    tenant_id = await _tenant_checked(ctx, request, form)
    digits = form.get("Digits", "")
    if digits != warm_transfer.ACCEPT_DIGIT:
        if not await _return_caller(ctx, tenant_id, held, "declined"):
            raise HTTPException(404, "no warm transfer waiting on this call")
        return _xml(twiml.say_and_hang_up(twiml.WHISPER_NO_KEY))
    end = await warm_transfers.accepted(
        await ctx.db(),
        tenant_id,
        held,
        form.get("To", ""),
        outbox_queue=ctx.config.outbox_queue_name(),
    )
    if end is None:
        raise HTTPException(404, "no warm transfer waiting on this call")
    if end.result == warm_transfers.CALLER_HUNG_UP:
        log.info("warm_transfer_failed", call_sid=held, result=end.result, hold_ms=end.hold_ms)
        return _xml(twiml.say_and_hang_up(twiml.CALLER_GONE))
    log.info("warm_transfer_completed", call_sid=held, hold_ms=end.hold_ms)
    return _xml(twiml.join_conference(warm_transfer.conference_name(held)))


@router.post("/status", status_code=204)
async def status(request: Request, ctx: Ctx, form: Form) -> Response:
    held = _held_call(request)
    target_sid = _call_sid(form)
    tenant_id = await _tenant_checked(ctx, request, form)
    call_status = form.get("CallStatus", "")
    key = f"{target_sid}:{call_status}"
    if not await calls.record_event(await ctx.db(), tenant_id, held, "warm", key, form):
        return Response(status_code=204)  # a replay
    result = warm_transfer.result_of_status(call_status)
    if result is None and call_status == "completed":
        result = "declined"  # answered and hung up without accepting (a no-op once accepted)
    if result is not None:
        await _return_caller(ctx, tenant_id, held, result)
    return Response(status_code=204)


@router.post("/return")
async def returned(request: Request, ctx: Ctx, form: Form) -> Response:
    call_sid = _call_sid(form)
    tenant_id = await _tenant_checked(ctx, request, form)
    record = await calls.get_call(await ctx.db(), tenant_id, call_sid)
    if record is None or record.outcome is not None:
        return _xml(twiml.say_and_hang_up(twiml.TRANSFER_FAILED))
    return await resume_stream(request, ctx, form, tenant_id, record)
