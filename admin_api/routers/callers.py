"""/callers: what the agent remembers about each caller - profiles, memories, call summaries,
personality - with corrections to one memory and forgetting a caller entirely.

Forgetting deletes every row of the caller in one transaction (memory.forget.forget_caller):
their recordings' rows, everything of theirs in the caller-memory tables, their transcripts and
messages (their calls stay as anonymous rows so the agency's statistics still add up), and the
audit entry, which names the caller by a digest of the number, never the number. Only after
that committed are the recording files removed, so an interruption leaves either the caller
untouched (run it again) or at worst orphan files, never a row naming a missing file.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Annotated

import structlog
from fastapi import APIRouter, HTTPException, Path, Query

from admin_api.auth import Admin, TenantEditor, TenantUser
from admin_api.paging import after_cursor
from admin_api.schemas.callers import (
    CallerListItem,
    CallerPublic,
    CallerSummaryPublic,
    ForgetResult,
    MemoryPublic,
    MemoryUpdate,
    PersonalityPublic,
)
from admin_api.schemas.common import ERRORS, CallerNumber, Cursor, Limit, Page
from admin_api.webhooks import Ctx
from memory import caller_admin, caller_memory, forget
from memory.admin_db import encode_cursor
from memory.caller_records import StoredMemory

log = structlog.get_logger(__name__)

router = APIRouter(responses=ERRORS, prefix="/callers", tags=["callers"])

Number = Annotated[CallerNumber, Path(description="The caller's phone number, URL-encoded.")]


def _memory_public(memory: StoredMemory) -> MemoryPublic:
    return MemoryPublic(
        memory_id=memory.memory_id,
        type=memory.type,
        key=memory.key,
        value=memory.value,
        content=memory.content,
        version=memory.version,
        source_call_sid=memory.source_call_sid,
        expires_at=memory.expires_at,
        updated_at=memory.updated_at,
    )


def number_digest(caller_number: str) -> str:
    return hashlib.sha256(caller_number.encode()).hexdigest()[:16]


@router.get("", response_model=Page[CallerListItem])
async def list_callers(
    member: TenantUser,
    ctx: Ctx,
    limit: Limit = 50,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> Page[CallerListItem]:
    """Callers with a profile, most recent first."""
    after = after_cursor(cursor)
    rows = await caller_admin.list_profiles(
        await ctx.db(), member.tenant_id, after=after, limit=limit + 1
    )
    page = rows[:limit]
    next_cursor = (
        encode_cursor(page[-1].sort_at, page[-1].caller_number) if len(rows) > limit else None
    )
    return Page[CallerListItem](
        items=[
            CallerListItem(
                caller_number=p.caller_number,
                preferred_name=p.preferred_name,
                total_calls=p.total_calls,
                first_call_at=p.first_call_at,
                last_call_at=p.last_call_at,
            )
            for p in page
        ],
        next_cursor=next_cursor,
    )


@router.get("/{caller_number}", response_model=CallerPublic)
async def get_caller(caller_number: Number, member: TenantUser, ctx: Ctx) -> CallerPublic:
    """Profile, personality and the most recent call summaries."""
    detail = await caller_admin.caller_detail(await ctx.db(), member.tenant_id, caller_number)
    if detail is None:
        raise HTTPException(404, "no such caller")
    profile, personality = detail.profile, detail.personality
    return CallerPublic(
        caller_number=detail.caller_number,
        preferred_name=profile.preferred_name if profile else None,
        total_calls=profile.total_calls if profile else 0,
        first_call_at=profile.first_call_at if profile else None,
        last_call_at=profile.last_call_at if profile else None,
        preferences=profile.preferences if profile else {},
        calls=detail.calls,
        memories=detail.memories,
        personality=(
            PersonalityPublic(
                calls=personality.calls,
                averages=personality.averages,
                recent=personality.recent,
                trend=personality.trend,
                updated_at=personality.updated_at,
            )
            if personality
            else None
        ),
        summaries=[
            CallerSummaryPublic(
                call_sid=s.call_sid,
                call_at=s.call_at,
                summary=s.summary,
                key_topics=list(s.key_topics),
                sentiment=s.sentiment,
                resolution_status=s.resolution_status,
                duration_ms=s.duration_ms,
            )
            for s in detail.summaries
        ],
    )


@router.get("/{caller_number}/memories", response_model=Page[MemoryPublic])
async def list_memories(caller_number: Number, member: TenantUser, ctx: Ctx) -> Page[MemoryPublic]:
    """Every memory of the caller, in one page."""
    memories = await caller_memory.list_memories(await ctx.db(), member.tenant_id, caller_number)
    return Page[MemoryPublic](items=[_memory_public(m) for m in memories], next_cursor=None)


@router.patch("/{caller_number}/memories/{memory_id}", response_model=MemoryPublic)
async def update_memory(
    caller_number: Number, memory_id: uuid.UUID, body: MemoryUpdate, member: TenantEditor, ctx: Ctx
) -> MemoryPublic:
    """Correct a memory; the old value stays in its history."""
    updated = await caller_admin.update_memory(
        await ctx.db(),
        member.tenant_id,
        caller_number,
        str(memory_id),
        member.actor,
        value=body.value,
        content=body.content,
        keep_forever=body.keep_forever,
    )
    if updated is None:
        raise HTTPException(404, "no such memory")
    return _memory_public(updated)


@router.delete("/{caller_number}/memories/{memory_id}", status_code=204)
async def delete_memory(
    caller_number: Number, memory_id: uuid.UUID, member: TenantEditor, ctx: Ctx
) -> None:
    deleted = await caller_admin.delete_memory(
        await ctx.db(), member.tenant_id, caller_number, str(memory_id), member.actor
    )
    if not deleted:
        raise HTTPException(404, "no such memory")


@router.delete("/{caller_number}", response_model=ForgetResult)
async def forget_caller(
    caller_number: Number, member: TenantEditor, ctx: Ctx, admin: Admin
) -> ForgetResult:
    """Forget the caller entirely: profile, memories and their history, summaries,
    personality, transcripts, messages and recordings. Every row goes in one transaction
    with its audit entry; the recording files are removed after it committed."""
    tenant_id = member.tenant_id
    forgotten = await forget.forget_caller(
        await ctx.db(),
        tenant_id,
        caller_number,
        member.actor,
        audit_target=number_digest(caller_number),
    )
    if forgotten is None:
        raise HTTPException(404, "no such caller")
    for recording_sid in forgotten.recording_sids:
        try:
            await asyncio.to_thread(admin.recordings.remove, tenant_id, recording_sid)
        except OSError as exc:  # its row is gone: the file is an orphan now, say so
            log.error(
                "recording_file_not_removed",
                tenant_id=tenant_id,
                recording_sid=recording_sid,
                error=repr(exc),
            )
    deleted = len(forgotten.recording_sids)
    log.info("caller_forgotten", tenant_id=tenant_id, recordings=deleted)
    return ForgetResult(recordings_deleted=deleted)
