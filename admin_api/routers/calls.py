"""/calls: the tenant's call history, newest first with filters and cursor pagination, and one
call in full: ordered transcript, tool calls, timings, summary, sentiment, recordings.

`since` and `until` without a zone (`2026-12-01`, `2026-12-01T09:30`) are the tenant's local
time, as an agency thinks of "calls today"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from admin_api.auth import TenantUser
from admin_api.paging import after_cursor
from admin_api.schemas.calls import (
    CallDetailPublic,
    CallListItem,
    RecordingPublic,
    SummaryPublic,
    TimingsPublic,
    ToolCallPublic,
    TurnPublic,
)
from admin_api.schemas.common import (
    ERRORS,
    CallerNumber,
    CallSid,
    Cursor,
    Limit,
    LocalTimestamp,
    Page,
    in_zone,
)
from admin_api.webhooks import Ctx
from memory import call_history, tenant_admin
from memory.admin_db import encode_cursor
from memory.call_history import CallFilter
from memory.recordings import Recording
from prompts.greeting import zone

router = APIRouter(responses=ERRORS, prefix="/calls", tags=["calls"])

Outcome = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[a-z_]+$")]


def recording_public(recording: Recording) -> RecordingPublic:
    return RecordingPublic(
        recording_sid=recording.recording_sid,
        status=recording.status,
        duration_s=recording.duration_s,
        channels=recording.channels,
        content_type=recording.content_type,
        size_bytes=recording.size_bytes,
        sha256=recording.sha256,
        created_at=recording.created_at,
        stored_at=recording.stored_at,
        audio_url=(
            f"/api/v1/recordings/{recording.recording_sid}/audio"
            if recording.status == "stored"
            else None
        ),
    )


@router.get("", response_model=Page[CallListItem])
async def list_calls(
    member: TenantUser,
    ctx: Ctx,
    since: Annotated[LocalTimestamp | None, Query(description="Started at or after.")] = None,
    until: Annotated[LocalTimestamp | None, Query(description="Started before.")] = None,
    caller: Annotated[CallerNumber | None, Query(description="The caller's number.")] = None,
    outcome: Outcome | None = None,
    transferred: bool | None = None,
    limit: Limit = 50,
    cursor: Annotated[Cursor | None, Query()] = None,
) -> Page[CallListItem]:
    after = after_cursor(cursor)
    if any(v is not None and v.tzinfo is None for v in (since, until)):
        tenant = await tenant_admin.get_tenant(await ctx.db(), member.tenant_id)
        local = zone(tenant.time_zone if tenant is not None else "UTC")
        since, until = in_zone(since, local), in_zone(until, local)
    rows = await call_history.list_calls(
        await ctx.db(),
        member.tenant_id,
        CallFilter(since, until, caller, outcome, transferred),
        after=after,
        limit=limit + 1,
    )
    page = rows[:limit]
    next_cursor = (
        encode_cursor(page[-1].started_at, page[-1].call_sid) if len(rows) > limit else None
    )
    return Page[CallListItem](
        items=[
            CallListItem(
                call_sid=c.call_sid,
                from_number=c.from_number,
                to_number=c.to_number,
                started_at=c.started_at,
                ended_at=c.ended_at,
                outcome=c.outcome,
                duration_ms=c.duration_ms,
                transferred_to=c.transferred_to,
            )
            for c in page
        ],
        next_cursor=next_cursor,
    )


def _latency(meta: dict[str, Any]) -> float | None:
    value = meta.get("latency_ms")
    return float(value) if isinstance(value, int | float) else None


@router.get("/{call_sid}", response_model=CallDetailPublic)
async def get_call(
    call_sid: Annotated[CallSid, Path()], member: TenantUser, ctx: Ctx
) -> CallDetailPublic:
    detail = await call_history.call_detail(await ctx.db(), member.tenant_id, call_sid)
    if detail is None:
        raise HTTPException(404, "no such call")
    call = detail.call
    answered_after = (
        (call.answered_at - call.started_at).total_seconds() * 1000
        if call.answered_at is not None
        else None
    )
    latencies = [
        lat
        for t in detail.turns
        if t.role == "agent" and (lat := _latency(dict(t.meta))) is not None
    ]
    summary = detail.summary
    return CallDetailPublic(
        call_sid=call.call_sid,
        from_number=call.from_number,
        to_number=call.to_number,
        started_at=call.started_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        outcome=call.outcome,
        end_detail=call.end_detail,
        twilio_status=call.twilio_status,
        transferred_to=call.transferred_to,
        streams=call.streams,
        language=call.language,
        recording=call.recording,
        timings=TimingsPublic(
            webhook_ms=call.webhook_ms,
            greeting_ms=call.greeting_ms,
            answered_after_ms=answered_after,
            duration_ms=call.duration_ms,
            agent_latency_ms=latencies,
        ),
        transcript=[
            TurnPublic(seq=t.seq, role=t.role, text=t.text, at=t.at, meta=dict(t.meta))
            for t in detail.turns
        ],
        tool_calls=[
            ToolCallPublic(
                seq=t.seq,
                name=str(t.meta.get("name", "")),
                call_id=str(t.meta["call_id"]) if "call_id" in t.meta else None,
                text=t.text,
                at=t.at,
            )
            for t in detail.turns
            if t.role == "tool"
        ],
        summary=(
            SummaryPublic(
                summary=summary.summary,
                key_topics=list(summary.key_topics),
                key_variables=summary.key_variables,
                sentiment=summary.sentiment,
                resolution_status=summary.resolution_status,
                template=summary.template,
                template_fields=summary.template_fields,
            )
            if summary is not None
            else None
        ),
        sentiment=summary.sentiment if summary is not None else None,
        personality=detail.personality,
        recordings=[recording_public(r) for r in detail.recordings],
    )
