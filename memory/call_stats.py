"""A tenant's calls counted for its overview: per local day and over the whole window; and how
many calls are live right now. I/O: asyncpg, four aggregate statements in one transaction.

The window is one range scan of calls_tenant_started grouped by day (each call's message looked
up by messages' (tenant_id, call_sid, reason) key), the callers' sentiment is counted from the
call summaries of the window on their own (no per-call join), the window's 90th percentile of
the answer time is one more scan, and the window's other figures are sums of the days. Days are
the tenant's local days (`AT TIME ZONE`), so "today" is the agency's today. Outcomes are
exclusive, in this order: still going, transferred, a message taken, the caller hung up, the
agent ended it, anything else (failed, never connected, lost).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from memory.db import tenant_tx

# Each call's outcome is worked out once (the CTE is materialised: inlined, the message lookup
# would run once per FILTER below), as narrow rows so the grouping sorts in memory.
_DAYS = """
WITH c AS MATERIALIZED (
    SELECT (started_at AT TIME ZONE $4)::date AS day, answered_at IS NOT NULL AS answered,
           duration_ms, greeting_ms,
           CASE
               WHEN ended_at IS NULL THEN 'live'
               WHEN transferred_to IS NOT NULL OR outcome = 'transferred' THEN 'transferred'
               WHEN EXISTS (SELECT 1 FROM messages m
                            WHERE m.tenant_id = $1 AND m.call_sid = calls.call_sid)
                   THEN 'message_taken'
               WHEN outcome = 'caller_hung_up' THEN 'caller_hung_up'
               WHEN outcome = 'agent_hung_up' THEN 'agent_ended'
               ELSE 'other'
           END AS kind
    FROM calls
    WHERE tenant_id = $1 AND started_at >= $2 AND started_at < $3
)
SELECT day,
       count(*) AS calls,
       count(*) FILTER (WHERE answered) AS answered,
       count(*) FILTER (WHERE kind = 'transferred') AS transferred,
       count(*) FILTER (WHERE kind = 'message_taken') AS message_taken,
       count(*) FILTER (WHERE kind = 'caller_hung_up') AS caller_hung_up,
       count(*) FILTER (WHERE kind = 'agent_ended') AS agent_ended,
       count(*) FILTER (WHERE kind = 'other') AS other,
       coalesce(sum(duration_ms), 0)::float8 AS duration_ms_sum,
       count(duration_ms) AS durations,
       coalesce(sum(greeting_ms), 0)::float8 AS answer_ms_sum,
       count(greeting_ms) AS answers,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY greeting_ms) AS p90_answer_ms
FROM c
GROUP BY day
"""
# Sentiment by the day of the call its summary is about (call_at is the call's start).
_SENTIMENT = """
SELECT (call_at AT TIME ZONE $4)::date AS day,
       count(*) FILTER (WHERE sentiment = 'positive') AS positive,
       count(*) FILTER (WHERE sentiment = 'neutral') AS neutral,
       count(*) FILTER (WHERE sentiment = 'negative') AS negative,
       count(*) FILTER (WHERE sentiment = 'mixed') AS mixed
FROM call_summaries
WHERE tenant_id = $1 AND call_at >= $2 AND call_at < $3
GROUP BY day
"""
_P90 = """
SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY greeting_ms)
FROM calls WHERE tenant_id = $1 AND started_at >= $2 AND started_at < $3
"""
_LIVE = """
SELECT count(*) FROM calls
WHERE tenant_id = $1 AND ended_at IS NULL AND started_at > now() - interval '4 hours'
"""


@dataclass(frozen=True, slots=True)
class CallCounts:
    """Calls of one local day (`day`), or of the whole window (`day` None)."""

    day: date | None
    calls: int
    answered: int
    transferred: int
    message_taken: int
    caller_hung_up: int
    agent_ended: int
    other: int
    avg_duration_ms: float | None
    avg_answer_ms: float | None
    p90_answer_ms: float | None
    positive: int
    neutral: int
    negative: int
    mixed: int


@dataclass(frozen=True, slots=True)
class CallStats:
    days: tuple[CallCounts, ...]  # only days with calls, oldest first
    window: CallCounts | None  # None when there was no call
    live: int  # calls not ended, started in the last 4 hours (the longest a call may last)


_ZERO_SENTIMENT = {"positive": 0, "neutral": 0, "negative": 0, "mixed": 0}
_SUMMED = (
    "calls",
    "answered",
    "transferred",
    "message_taken",
    "caller_hung_up",
    "agent_ended",
    "other",
    "positive",
    "neutral",
    "negative",
    "mixed",
)


def _mean(total: float, count: int) -> float | None:
    return total / count if count else None


def _day(row: asyncpg.Record, sentiment: dict[str, int]) -> CallCounts:
    p90 = row["p90_answer_ms"]
    return CallCounts(
        day=row["day"],
        calls=row["calls"],
        answered=row["answered"],
        transferred=row["transferred"],
        message_taken=row["message_taken"],
        caller_hung_up=row["caller_hung_up"],
        agent_ended=row["agent_ended"],
        other=row["other"],
        avg_duration_ms=_mean(row["duration_ms_sum"], row["durations"]),
        avg_answer_ms=_mean(row["answer_ms_sum"], row["answers"]),
        p90_answer_ms=None if p90 is None else float(p90),
        **sentiment,
    )


async def call_stats(
    pool: asyncpg.Pool, tenant_id: str, since: datetime, until: datetime, time_zone: str
) -> CallStats:
    """Calls started in [since, until), counted per day in `time_zone` and in total."""
    tenant = uuid.UUID(tenant_id)
    async with tenant_tx(pool, tenant_id) as conn:
        # A window of 100k calls is a few MB of narrow rows: kept in memory, not spilled.
        await conn.execute("SET LOCAL work_mem = '16MB'")
        rows = await conn.fetch(_DAYS, tenant, since, until, time_zone)
        moods = await conn.fetch(_SENTIMENT, tenant, since, until, time_zone)
        p90 = await conn.fetchval(_P90, tenant, since, until) if rows else None
        live = await conn.fetchval(_LIVE, tenant)
    by_day = {m["day"]: {k: m[k] for k in _ZERO_SENTIMENT} for m in moods}
    days = tuple(
        sorted(
            (_day(r, by_day.get(r["day"], _ZERO_SENTIMENT)) for r in rows),
            key=lambda c: c.day or date.min,
        )
    )
    window = None
    if rows:
        sums = {name: sum(getattr(d, name) for d in days) for name in _SUMMED}
        window = CallCounts(
            day=None,
            avg_duration_ms=_mean(
                sum(r["duration_ms_sum"] for r in rows), sum(r["durations"] for r in rows)
            ),
            avg_answer_ms=_mean(
                sum(r["answer_ms_sum"] for r in rows), sum(r["answers"] for r in rows)
            ),
            p90_answer_ms=None if p90 is None else float(p90),
            **sums,
        )
    return CallStats(days=days, window=window, live=int(live))
