"""Twilio webhooks: /twilio/voice, /twilio/status, /twilio/stream-status, /twilio/stream-ended.

Every route validates X-Twilio-Signature with the tenant's auth token (checked inside the
tenant actor) over the URL rebuilt from PUBLIC_BASE_URL; a failure changes nothing and is a
403, except on `/twilio/voice`: there it gets the same "not in service" TwiML as a number nobody
provisioned (or a suspended tenant's), so an unsigned request cannot tell customers' numbers
from others, and a caller whose call is signed with a stale token hears words, not Twilio's
application error. Handlers do no slow work: one tenant-actor call (which claims a warm call
actor) for a new call, one small idempotent write for callbacks.

Twilio's signatures carry no timestamp, so a captured request can be replayed at will: a
`/twilio/voice` for a call that has ended claims nothing, and a `<Connect action>` resumes a
call only while it is live or shortly after its stream was lost, at most `MAX_RESUMES` times,
counted in Postgres (memory.calls).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Annotated
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, Response

from actors.ports import Admission, AdmitRequest
from actors.tenant_cap import STALE_CALL_S
from admin_api.context import LookupUnavailable, WebhookContext
from admin_api.forms import public_url, read_form
from admin_api.overflow_answer import overflow_answer
from engine import twiml
from memory import calls
from memory.call_records import CallRecord
from memory.errors import DATABASE_DOWN

log = structlog.get_logger(__name__)

CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")
TWIML = "application/xml"
MAX_RESUMES = 2  # fresh actors one call may be resumed on
RESUME_WINDOW_S = 30.0  # how long after its stream was lost a call may still resume
REPLAY_CHECK_TIMEOUT_S = 1.0


async def get_context(request: Request) -> WebhookContext:
    # async: FastAPI runs a sync dependency in a worker thread, a thread hand-off per webhook
    # (15% of the ingress replica's CPU samples in a burst; 8-12% less CPU per /twilio/voice).
    ctx: WebhookContext = request.app.state.webhooks
    return ctx


Ctx = Annotated[WebhookContext, Depends(get_context)]
Form = Annotated[dict[str, str], Depends(read_form)]

router = APIRouter(prefix="/twilio", tags=["twilio"])


def _xml(body: str) -> Response:
    return Response(content=body, media_type=TWIML)


def _call_sid(form: dict[str, str]) -> str:
    sid = form.get("CallSid", "")
    if not CALL_SID.match(sid):
        raise HTTPException(400, "CallSid missing or malformed")
    return sid


async def _tenant_checked(ctx: WebhookContext, request: Request, form: dict[str, str]) -> str:
    """The tenant a callback belongs to (from ?tenant= or the dialed number), after checking
    the signature with that tenant's token. 403 when either fails."""
    route = request.url.path
    tenant_id = request.query_params.get("tenant")
    if tenant_id is None:
        tenant_id = await ctx.tenant_for_number(form.get("To", ""))
    signature = request.headers.get("X-Twilio-Signature", "")
    url = public_url(ctx.config.public_base_url, request)
    if tenant_id is None or not re.fullmatch(r"[0-9a-f-]{36}", tenant_id):
        ctx.metrics.rejected.labels(route, "unknown tenant").inc()
        raise HTTPException(403, "invalid signature")
    if not await ctx.gateway.validate(tenant_id, url, form, signature):
        ctx.metrics.rejected.labels(route, "bad signature").inc()
        raise HTTPException(403, "invalid signature")
    return tenant_id


@router.post("/voice")
async def voice(request: Request, ctx: Ctx, form: Form) -> Response:
    began = time.perf_counter()
    try:
        return await _voice(request, ctx, form)
    finally:
        ctx.metrics.webhook_seconds.labels("voice").observe(time.perf_counter() - began)


def _not_in_service(ctx: WebhookContext, *, signed: bool = True) -> Response:
    if not signed:
        ctx.metrics.rejected.labels("/twilio/voice", "bad signature").inc()
    ctx.metrics.call_setups.labels("not_in_service").inc()
    return _xml(twiml.say_and_hang_up(twiml.NOT_IN_SERVICE))


async def _call_over(ctx: WebhookContext, tenant_id: str, call_sid: str) -> bool:
    """Whether the call already ended; False when the database cannot say in time (a new call
    must still be answered during an outage; the tenant's cap bounds what a replay can take)."""
    try:
        return await asyncio.wait_for(
            calls.call_over(await ctx.db(), tenant_id, call_sid), REPLAY_CHECK_TIMEOUT_S
        )
    except DATABASE_DOWN as exc:
        log.warning("call_over_check_failed", call_sid=call_sid, error=repr(exc))
        return False


async def _voice(request: Request, ctx: Ctx, form: dict[str, str]) -> Response:
    call_sid = _call_sid(form)
    base = ctx.config.public_base_url
    url = public_url(base, request)
    signature = request.headers.get("X-Twilio-Signature", "")
    try:
        tenant_id = await ctx.tenant_for_number(form.get("To", ""))
    except LookupUnavailable:
        ctx.metrics.call_setups.labels("unavailable").inc()
        return _xml(twiml.say_and_hang_up(twiml.UNAVAILABLE))
    if tenant_id is None:
        return _not_in_service(ctx)
    if await _call_over(ctx, tenant_id, call_sid):
        if not await ctx.gateway.validate(tenant_id, url, form, signature):
            return _not_in_service(ctx, signed=False)
        ctx.metrics.call_setups.labels("replay_refused").inc()
        return _xml(twiml.hang_up())
    admission = await ctx.gateway.admit(
        tenant_id,
        AdmitRequest(
            call_sid=call_sid,
            from_number=form.get("From", ""),
            to_number=form.get("To", ""),
            url=url,
            params=form,
            signature=signature,
        ),
    )
    if admission.kind in ("forbidden", "unknown"):
        return _not_in_service(ctx, signed=admission.kind == "unknown")
    ctx.metrics.call_setups.labels(admission.kind).inc()
    if admission.kind == "refused":
        return _xml(twiml.say_and_hang_up(twiml.BUSY))
    if admission.kind == "full":  # the node keeps its live calls; this one overflows
        return _xml(overflow_answer(base, tenant_id, admission, request))
    if admission.kind != "admitted":
        return _xml(twiml.say_and_hang_up(twiml.UNAVAILABLE))
    return _connect_stream(base, tenant_id, admission, record=admission.record_calls)


def _connect_stream(base: str, tenant_id: str, admission: Admission, *, record: bool) -> Response:
    """Connect the call to its actor's media URL, with the stream's callbacks (and the
    recording's, when the call is recorded from here)."""
    tenant_q = f"?tenant={quote(tenant_id)}"
    return _xml(
        twiml.stream(
            media_url=admission.media_url,
            token=admission.media_token,
            action_url=f"{base}/twilio/stream-ended{tenant_q}",
            status_url=f"{base}/twilio/stream-status{tenant_q}",
            recording_callback=f"{base}/twilio/recording{tenant_q}" if record else None,
        )
    )


@router.post("/status", status_code=204)
async def status(request: Request, ctx: Ctx, form: Form) -> Response:
    """Twilio's call status. A terminal one frees the call's place under the tenant's cap even
    when the database is down (the status itself is then only logged: Twilio never resends
    it, and the call's own outcome is recorded by its session)."""
    call_sid = _call_sid(form)
    tenant_id = await _tenant_checked(ctx, request, form)
    call_status = form.get("CallStatus", "")
    key = f"{call_status}:{form.get('SequenceNumber', '')}"
    new = True  # unless the database says it saw this callback before
    try:
        pool = await ctx.db()
        new = await calls.record_event(pool, tenant_id, call_sid, "status", key, form)
        if new:
            duration = form.get("CallDuration", "")
            seconds = int(duration) if duration.isdigit() else None
            await calls.apply_twilio_status(
                pool,
                tenant_id,
                call_sid,
                call_status,
                seconds,
                outbox_queue=ctx.config.outbox_queue_name(),
            )
    except DATABASE_DOWN as exc:
        log.warning(
            "twilio_status_not_stored", call_sid=call_sid, status=call_status, error=repr(exc)
        )
    if new and call_status in calls.TERMINAL_STATUSES:
        await ctx.gateway.release(tenant_id, call_sid)
    return Response(status_code=204)


@router.post("/stream-status", status_code=204)
async def stream_status(request: Request, ctx: Ctx, form: Form) -> Response:
    call_sid = _call_sid(form)
    tenant_id = await _tenant_checked(ctx, request, form)
    key = f"{form.get('StreamSid', '')}:{form.get('StreamEvent', '')}"
    try:
        await calls.record_event(await ctx.db(), tenant_id, call_sid, "stream_status", key, form)
    except DATABASE_DOWN as exc:
        log.warning("twilio_stream_status_not_stored", call_sid=call_sid, error=repr(exc))
    return Response(status_code=204)


RESUMABLE = frozenset({None, "stream_lost"})


@router.post("/stream-ended")
async def stream_ended(request: Request, ctx: Ctx, form: Form) -> Response:
    """The `<Connect action>`: Twilio asks what to do now that the media stream is over.

    A call that ended on purpose hangs up (or dials, when a transfer could not be done over
    REST); a call whose actor died or lost its socket continues on a fresh actor, which
    resumes from the turns in Postgres, and the caller stays on the line."""
    call_sid = _call_sid(form)
    tenant_id = await _tenant_checked(ctx, request, form)
    record = await calls.get_call(await ctx.db(), tenant_id, call_sid)
    base = ctx.config.public_base_url
    tenant_q = f"?tenant={quote(tenant_id)}"
    dial_action = f"{base}/twilio/dial-status{tenant_q}"
    if record is not None and record.outcome in RESUMABLE:
        return await resume_stream(request, ctx, form, tenant_id, record)
    if record is None:
        return _xml(twiml.say_and_hang_up(twiml.STREAM_LOST_APOLOGY))
    if record.outcome == "model_failed":
        if record.transferred_to:
            return _xml(
                twiml.dial(
                    record.transferred_to, action_url=dial_action, say_first=twiml.MODEL_HANDOFF
                )
            )
        return _xml(twiml.say_and_hang_up(twiml.MODEL_APOLOGY))
    if record.outcome in ("transferred", "warm_transfer") and record.transferred_to:
        # The REST redirect did not happen; dial from here instead.
        return _xml(twiml.dial(record.transferred_to, action_url=dial_action))
    return _xml(twiml.hang_up())


async def resume_stream(
    request: Request, ctx: WebhookContext, form: dict[str, str], tenant_id: str, record: CallRecord
) -> Response:
    """Continue a live call on a fresh actor, which resumes from the turns in Postgres (a lost
    stream, or a caller back from a warm transfer that did not go through)."""
    call_sid = record.call_sid
    base = ctx.config.public_base_url
    attempt = await calls.claim_resume(
        await ctx.db(),
        tenant_id,
        call_sid,
        max_resumes=MAX_RESUMES,
        max_age_s=STALE_CALL_S,
        lost_window_s=RESUME_WINDOW_S,
    )
    if attempt is None:
        ctx.metrics.call_setups.labels("resume_denied").inc()
        return _xml(twiml.say_and_hang_up(twiml.STREAM_LOST_APOLOGY))
    admission = await ctx.gateway.resume(
        tenant_id,
        AdmitRequest(
            call_sid=call_sid,
            from_number=record.from_number,
            to_number=record.to_number,
            url=public_url(base, request),
            params=form,
            signature=request.headers.get("X-Twilio-Signature", ""),
            attempt=attempt,
        ),
    )
    ctx.metrics.call_setups.labels(f"resume_{admission.kind}").inc()
    if admission.kind == "admitted":  # a resumed stream starts no second recording
        return _connect_stream(base, tenant_id, admission, record=False)
    return _xml(twiml.say_and_hang_up(twiml.STREAM_LOST_APOLOGY))


@router.post("/dial-status")
async def dial_status(request: Request, ctx: Ctx, form: Form) -> Response:
    """The `<Dial action>` of a transfer: apologise and hang up when nobody answered."""
    call_sid = _call_sid(form)
    tenant_id = await _tenant_checked(ctx, request, form)
    status = form.get("DialCallStatus", "")
    await calls.record_event(await ctx.db(), tenant_id, call_sid, "dial", status or "-", form)
    if status in ("completed", "answered"):
        return _xml(twiml.hang_up())
    return _xml(twiml.say_and_hang_up(twiml.TRANSFER_FAILED))
