"""/recordings: a call recording's details and its audio, for the tenant's users only.

The audio is streamed from the private recordings store with HTTP range requests (seeking in
a player); another tenant's RecordingSid is 404, exactly like one that does not exist. There is
no listing route: recordings are found through their call (/calls/{call_sid}).
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import FileResponse

from admin_api.auth import Admin, TenantUser
from admin_api.routers.calls import recording_public
from admin_api.schemas.calls import RecordingPublic
from admin_api.schemas.common import ERRORS, RecordingSid
from admin_api.webhooks import Ctx
from memory import recordings

router = APIRouter(responses=ERRORS, prefix="/recordings", tags=["recordings"])


@router.get("/{recording_sid}", response_model=RecordingPublic)
async def get_recording(
    recording_sid: Annotated[RecordingSid, Path()], member: TenantUser, ctx: Ctx
) -> RecordingPublic:
    recording = await recordings.get_recording(await ctx.db(), member.tenant_id, recording_sid)
    if recording is None:
        raise HTTPException(404, "no such recording")
    return recording_public(recording)


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
    recording_sid: Annotated[RecordingSid, Path()], member: TenantUser, ctx: Ctx, admin: Admin
) -> FileResponse:
    """The audio file; send `Range: bytes=start-end` for part of it."""
    recording = await recordings.get_recording(await ctx.db(), member.tenant_id, recording_sid)
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
