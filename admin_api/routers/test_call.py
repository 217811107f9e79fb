"""/agent/test-call: an owner or admin talks to their agent from the browser, through the same
media path a phone call takes. POST answers a one-minute link (admin_api.links) for a new
CallSid; the page opens it as a WebSocket and speaks the Twilio media-stream protocol (mu-law
8 kHz); the tenant actor admits the call like a phone call (within the tenant's cap, not
recorded, from actors.tenant_actor.TEST_CALLER) and the ingress relays the stream to the call
actor (admin_api.media_relay). The call is in the call history like any other.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, HTTPException, WebSocket

from admin_api.auth import Admin, TenantEditor
from admin_api.context import WebhookContext
from admin_api.links import link_tenant, mint_link, now_s
from admin_api.media_relay import RelayRefused, relay
from admin_api.schemas.common import ERRORS, PublicModel
from admin_api.state import AdminState

log = structlog.get_logger(__name__)

router = APIRouter(responses=ERRORS, prefix="/agent", tags=["agent"])

AUDIENCE = "test-call"
LINK_TTL_S = 60


class TestCallPublic(PublicModel):
    call_sid: str
    stream_sid: str
    url: str
    expires_at: datetime


@router.post("/test-call", response_model=TestCallPublic, status_code=201)
async def new_test_call(member: TenantEditor, admin: Admin) -> TestCallPublic:
    """A test call's media link: open it as a WebSocket within a minute and speak the Twilio
    media-stream protocol (`connected`, `start` with this call's CallSid and StreamSid, then
    `media`, `mark`, `stop`)."""
    call_sid = "CA" + uuid.uuid4().hex
    now = now_s()
    token = mint_link(admin, member, audience=AUDIENCE, subject=call_sid, ttl_s=LINK_TTL_S, now=now)
    return TestCallPublic(
        call_sid=call_sid,
        stream_sid="MZ" + uuid.uuid4().hex,
        url=f"/api/v1/agent/test-call/{call_sid}?access={token}",
        expires_at=datetime.fromtimestamp(now + LINK_TTL_S, UTC),
    )


@router.websocket("/test-call/{call_sid}")
async def relay_test_call(websocket: WebSocket, call_sid: str, access: str = "") -> None:
    ctx: WebhookContext = websocket.app.state.webhooks
    admin: AdminState = websocket.app.state.admin
    try:
        tenant_id = await link_tenant(ctx, admin, access, audience=AUDIENCE, subject=call_sid)
    except HTTPException:
        await websocket.close(code=1008, reason="invalid or expired test call link")
        return
    admission = await ctx.gateway.admit_test(tenant_id, call_sid)
    if admission.kind != "admitted":  # said on the open socket, so the page can show why
        log.warning("test_call_refused", tenant_id=tenant_id, reason=admission.reason)
        await websocket.accept()
        await websocket.close(code=1013, reason=f"the agent cannot take a call: {admission.reason}")
        return
    await websocket.accept()
    log.info("test_call_started", tenant_id=tenant_id, call_sid=call_sid)
    try:
        await relay(
            websocket, admission.media_url, admission.handshake_signature, admission.media_token
        )
    except RelayRefused as exc:
        await websocket.close(code=1003, reason=str(exc))
    except Exception as exc:  # the stream could not be opened, or broke: the call ends
        log.warning("test_call_relay_failed", call_sid=call_sid, error=repr(exc))
    finally:
        await ctx.gateway.release(tenant_id, call_sid)
        log.info("test_call_ended", tenant_id=tenant_id, call_sid=call_sid)
