"""/overview: what an agency's dashboard shows - calls live now, today and this week, and per
day of the last weeks the outcomes, durations, answer times and callers' sentiment. Counted by
one aggregate statement in Postgres (memory.call_stats), never by loading calls."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from admin_api.auth import TenantUser
from admin_api.schemas.common import ERRORS
from admin_api.schemas.overview import CallCountsPublic, DayPublic, OverviewPublic
from admin_api.webhooks import Ctx
from memory import call_stats, tenant_admin
from memory.call_stats import CallCounts
from prompts.greeting import zone

router = APIRouter(responses=ERRORS, prefix="/overview", tags=["overview"])

_EMPTY = CallCountsPublic(
    calls=0,
    answered=0,
    transferred=0,
    message_taken=0,
    caller_hung_up=0,
    agent_ended=0,
    other=0,
    avg_duration_ms=None,
    avg_answer_ms=None,
    p90_answer_ms=None,
    positive=0,
    neutral=0,
    negative=0,
    mixed=0,
)


def _public(counts: CallCounts) -> CallCountsPublic:
    fields = {name: getattr(counts, name) for name in CallCountsPublic.model_fields}
    return CallCountsPublic(**fields)


@router.get("", response_model=OverviewPublic)
async def overview(
    member: TenantUser,
    ctx: Ctx,
    days: Annotated[
        int, Query(ge=7, le=92, description="How many days, today included (7 to 92).")
    ] = 14,
) -> OverviewPublic:
    pool = await ctx.db()
    tenant = await tenant_admin.get_tenant(pool, member.tenant_id)
    time_zone = tenant.time_zone if tenant is not None else "UTC"
    local = zone(time_zone)
    today = datetime.now(local).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time(), local)
    until = datetime.combine(today + timedelta(days=1), time(), local)
    stats = await call_stats.call_stats(pool, member.tenant_id, since, until, time_zone)
    by_day = {c.day: c for c in stats.days}
    series: list[DayPublic] = []
    for n in range(days):
        day: date = first + timedelta(days=n)
        counts = by_day.get(day)
        base = _public(counts) if counts is not None else _EMPTY
        series.append(DayPublic(day=day, **base.model_dump()))
    week_start = today - timedelta(days=today.weekday())
    window = _public(stats.window) if stats.window is not None else _EMPTY
    finished = _finished(window)
    return OverviewPublic(
        time_zone=time_zone,
        live=stats.live,
        today=series[-1].calls,
        this_week=sum(d.calls for d in series if d.day >= week_start),
        transfer_rate=window.transferred / finished if finished else None,
        window=window,
        days=series,
    )


def _finished(counts: CallCountsPublic) -> int:
    return (
        counts.transferred
        + counts.message_taken
        + counts.caller_hung_up
        + counts.agent_ended
        + counts.other
    )
