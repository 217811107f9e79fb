"""POST /twilio/recording: Twilio says a call recording is finished (or failed).

Signature-checked with the tenant's auth token like every webhook (admin_api.webhooks), then:
a `completed` recording of a known call is recorded as pending and downloaded in the
background (admin_api.recording_store: Basic auth to the Twilio REST API, verified, stored
privately), so Twilio gets its 204 in milliseconds. Replays are harmless: a recording already
pending or stored is not fetched again; one that failed is tried again. Each callback also
restarts the tenant's downloads that have been pending for minutes (a replica that died took
their tasks with it).
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, HTTPException, Request, Response

from admin_api.recording_store import RECORDING_SID, fetch_recording
from admin_api.state import AdminState
from admin_api.webhooks import Ctx, Form, _call_sid, _tenant_checked
from memory import recordings

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/twilio", tags=["twilio"])

STALE_PENDING_S = 300.0


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
    pool = await ctx.db()
    fetch = await recordings.register(
        pool,
        tenant_id,
        recording_sid,
        call_sid,
        duration_s=_int(form.get("RecordingDuration", ""), 0, 86_400),
        channels=_int(form.get("RecordingChannels", ""), 1, 2),
    )
    if fetch is None:
        raise HTTPException(404, "unknown call")
    admin: AdminState = request.app.state.admin
    stale = await recordings.stale_pending(pool, tenant_id, older_than_s=STALE_PENDING_S)
    for sid in [recording_sid] * bool(fetch) + [r.recording_sid for r in stale]:
        admin.spawn(
            f"recording:{tenant_id}:{sid}",
            fetch_recording(pool, admin.recordings, admin.http, ctx.config, tenant_id, sid),
        )
    return Response(status_code=204)
