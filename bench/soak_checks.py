"""A soak's calls as the engine recorded them: Postgres rows and `/metrics` counters.

I/O: asyncpg to the engine's app database (`postgres_check`), one HTTP GET of `/metrics`
(`counted`); both on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


async def postgres_check(
    app_url: str, numbers: Sequence[str], sids: Sequence[str]
) -> dict[str, Any]:
    """The calls placed, as Postgres holds them: rows, outcomes, ends, turns per role, post-call
    jobs done."""
    from memory.db import create_pool, tenant_tx
    from memory.tenants import resolve_number

    pool = await create_pool(app_url, min_size=1, max_size=2)
    found: dict[str, Any] = {
        "placed": len(sids),
        "rows": 0,
        "with_outcome": 0,
        "with_end": 0,
        "without_turns": 0,
        "turns": {},
        "outcomes": {},
        "post_call_jobs_done": 0,
    }
    try:
        tenants = {t for n in numbers if (t := await resolve_number(pool, n)) is not None}
        for tenant in tenants:
            async with tenant_tx(pool, tenant, timeout=60) as conn:
                rows = await conn.fetch(
                    "SELECT call_sid, outcome, ended_at IS NOT NULL AS ended FROM calls "
                    "WHERE call_sid = ANY($1::text[])",
                    list(sids),
                )
                turns = await conn.fetch(
                    "SELECT call_sid, role, count(*) AS n FROM call_turns "
                    "WHERE call_sid = ANY($1::text[]) GROUP BY call_sid, role",
                    list(sids),
                )
                jobs = await conn.fetchval(
                    "SELECT count(*) FROM post_call_jobs WHERE call_sid = ANY($1::text[]) "
                    "AND status = 'done'",
                    list(sids),
                )
            found["rows"] += len(rows)
            found["with_outcome"] += sum(1 for r in rows if r["outcome"])
            found["with_end"] += sum(1 for r in rows if r["ended"])
            for r in rows:
                found["outcomes"][r["outcome"]] = found["outcomes"].get(r["outcome"], 0) + 1
            with_turns = {r["call_sid"] for r in turns}
            found["without_turns"] += sum(1 for r in rows if r["call_sid"] not in with_turns)
            for r in turns:
                found["turns"][r["role"]] = found["turns"].get(r["role"], 0) + int(r["n"])
            found["post_call_jobs_done"] += int(jobs or 0)
    finally:
        await pool.close()
    return found


COUNTED = ("neurosphere_call_claim_seconds_count", "neurosphere_calls_ended_total")


def counted(url: str | None) -> dict[str, float]:
    """The calls /metrics counts: claims (the claim histogram's count) and calls ended (every
    outcome), summed over their labels."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    if url is None:
        return {}
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local URL
        text = response.read().decode()
    out = dict.fromkeys(COUNTED, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in out:
                out[sample.name] += sample.value
    return out
