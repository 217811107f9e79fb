"""POST /twilio/recording: Twilio says a call recording is finished (or failed).

Signature-checked with the tenant's auth token like every webhook (admin_api.webhooks), then:
a `completed` recording of a call whose caller declined the recording is deleted at Twilio
through the tenant's actor and never kept; any other `completed` recording of a known call is
recorded as pending and handed to the tenant's actor,
which downloads it in the background with the tenant's Twilio credentials
(actors.recording_downloads) - this replica never reads them - so Twilio gets its 204 in
milliseconds. Replays are harmless: a recording already pending or stored is not handed over
again; one that failed is tried again. Every hand-off also lets the actor restart the tenant's
downloads that have been pending for minutes (an actor that died took their tasks with it). A
hand-off that fails is logged and still answered 204: the row stays pending and the next
callback's sweep picks it up.
"""

from __future__ import annotations

from collections.abc import Awaitable

import structlog
from fastapi import APIRouter, HTTPException, Request, Response

from admin_api.webhooks import Ctx, Form, _call_sid, _tenant_checked
from memory import recordings
from memory.recording_files import RECORDING_SID

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/twilio", tags=["twilio"])


def _int(value: str, low: int, high: int) -> int | None:
    return int(value) if value.isdigit() and low <= int(value) <= high else None


@router.post("/recording", status_code=204, include_in_schema=False)
async def recording(request: Request, ctx: Ctx, form: Form) -> Response:
    call_sid = _call_sid(form)
    tenant_id = await _tenant_checked(ctx, request, form)
    recording_sid = form.get("RecordingSid", "")
    if not RECORDING_SID.match(recording_sid):
        raise HTTPException(400, "RecordingSid missing or malformed")
    status = form.get("RecordingStatus", "")
    if status != "completed":
        log.info("recording_status", tenant_id=tenant_id, call_sid=call_sid, status=status)
        return Response(status_code=204)
    if await recordings.declined(await ctx.db(), tenant_id, call_sid):
        # the caller said no: nothing of it is kept, here or at Twilio
        deletion = ctx.gateway.delete_recording(tenant_id, recording_sid)
        await _hand_over(deletion, "recording_delete_failed", tenant_id, recording_sid)
        return Response(status_code=204)
    fetch = await recordings.register(
        await ctx.db(),
        tenant_id,
        recording_sid,
        call_sid,
        duration_s=_int(form.get("RecordingDuration", ""), 0, 86_400),
        channels=_int(form.get("RecordingChannels", ""), 1, 2),
    )
    if fetch is None:
        raise HTTPException(404, "unknown call")
    # on failure the row stays pending; a later callback's sweep retries it
    download = ctx.gateway.fetch_recordings(tenant_id, [recording_sid] if fetch else [])
    await _hand_over(download, "recording_handoff_failed", tenant_id, recording_sid)
    return Response(status_code=204)


async def _hand_over(
    request: Awaitable[None], failure: str, tenant_id: str, recording_sid: str
) -> None:
    """Hand a recording to the tenant's actor; a failure is logged, Twilio still gets 204."""
    try:
        await request
    except Exception as exc:
        log.warning(failure, tenant_id=tenant_id, recording_sid=recording_sid, error=repr(exc))
