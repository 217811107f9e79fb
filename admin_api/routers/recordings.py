"""/recordings: a call recording's details and its audio, for the tenant's users only.

The audio is streamed from the private recordings store with HTTP range requests (seeking in
a player); another tenant's RecordingSid is 404, exactly like one that does not exist. There is
no listing route: recordings are found through their call (/calls/{call_sid}).

An `<audio>` element cannot send an Authorization header, so a tenant user asks for a playback
link (`POST /recordings/{sid}/link`): the same audio URL with `?access=<token>`, a JWT for that
one recording, that tenant and the user's session, valid for five minutes. The browser then
fetches the audio natively, range by range, and seeks without downloading the whole file;
signing out ends the link with the session.
"""

from __future__ import annotations

import asyncio
import os
import stat
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials

from admin_api.auth import Admin, TenantUser, bearer, current_principal, tenant_member
from admin_api.links import link_tenant, mint_link, now_s
from admin_api.routers.calls import recording_public
from admin_api.schemas.calls import PlaybackLink, RecordingPublic
from admin_api.schemas.common import ERRORS, RecordingSid
from admin_api.webhooks import Ctx
from memory import recordings

PLAYBACK_AUDIENCE = "recording"
PLAYBACK_TTL_S = 300

router = APIRouter(responses=ERRORS, prefix="/recordings", tags=["recordings"])


@router.get("/{recording_sid}", response_model=RecordingPublic)
async def get_recording(
    recording_sid: Annotated[RecordingSid, Path()], member: TenantUser, ctx: Ctx
) -> RecordingPublic:
    recording = await recordings.get_recording(await ctx.db(), member.tenant_id, recording_sid)
    if recording is None:
        raise HTTPException(404, "no such recording")
    return recording_public(recording)


@router.post("/{recording_sid}/link", response_model=PlaybackLink)
async def playback_link(
    recording_sid: Annotated[RecordingSid, Path()], member: TenantUser, ctx: Ctx, admin: Admin
) -> PlaybackLink:
    """A URL an `<audio>` element can play (and seek in, with range requests) without an
    Authorization header: this recording only, this session only, for five minutes."""
    recording = await recordings.get_recording(await ctx.db(), member.tenant_id, recording_sid)
    if recording is None or recording.status != "stored":
        raise HTTPException(404, "no such recording")
    now = now_s()
    token = mint_link(
        admin,
        member,
        audience=PLAYBACK_AUDIENCE,
        subject=recording_sid,
        ttl_s=PLAYBACK_TTL_S,
        now=now,
    )
    return PlaybackLink(
        url=f"/api/v1/recordings/{recording_sid}/audio?access={token}",
        expires_at=datetime.fromtimestamp(now + PLAYBACK_TTL_S, UTC),
    )


@router.get(
    "/{recording_sid}/audio",
    response_class=FileResponse,
    responses={
        200: {"content": {"audio/wav": {}}, "description": "The recording."},
        206: {"content": {"audio/wav": {}}, "description": "The requested byte range."},
        416: {"description": "Range not satisfiable."},
    },
)
async def stream_audio(
    recording_sid: Annotated[RecordingSid, Path()],
    ctx: Ctx,
    admin: Admin,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    access: Annotated[
        str | None,
        Query(max_length=2000, description="A playback link's token, instead of the bearer."),
    ] = None,
) -> FileResponse:
    """The audio file; send `Range: bytes=start-end` for part of it (a malformed range is 400,
    one past the end 416). Authorised by the bearer token or a playback link's `access`."""
    if access is not None:
        tenant_id = await link_tenant(
            ctx, admin, access, audience=PLAYBACK_AUDIENCE, subject=recording_sid
        )
    else:
        tenant_id = tenant_member(await current_principal(ctx, admin, credentials)).tenant_id
    recording = await recordings.get_recording(await ctx.db(), tenant_id, recording_sid)
    if recording is None or recording.status != "stored" or recording.file_name is None:
        raise HTTPException(404, "no such recording")
    path = admin.recordings.path(recording.file_name)
    try:
        found = await asyncio.to_thread(os.stat, path)
    except FileNotFoundError:
        raise HTTPException(404, "recording file is missing") from None
    if not stat.S_ISREG(found.st_mode):
        raise HTTPException(404, "recording file is missing")
    return FileResponse(
        path,
        stat_result=found,
        media_type=recording.content_type or "audio/wav",
        headers={"Cache-Control": "private, no-store"},
        content_disposition_type="inline",
        filename=path.name,
    )
