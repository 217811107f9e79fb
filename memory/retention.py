"""Data retention: deleting each tenant's calls older than its `retention_days`, with everything
hanging off them. I/O: asyncpg; recording files through a remover the caller passes in (the
recordings store, memory.recording_files; this module never touches the filesystem itself).

A call is due when it ended - or, if it never ended, started - more than `retention_days`
(agent_configs, 0004) ago. Each tenant is purged in its own scope (row-level security sees that
tenant only), in batches of at most `batch_size` calls; a batch is one short transaction: lock
the due calls (SKIP LOCKED, so a call a late webhook is updating waits for the next run), delete
their turns (tool calls are turns), events, messages, summaries, personality scores,
consolidation entries, post-call jobs and recording rows, then the calls themselves. Recording
files are removed only after their batch committed: a crash in between leaves at worst an
orphan file, never a row naming a missing file. A second run finds nothing left to do.

Not call-scoped, so kept (a caller is forgotten through the admin API instead): caller
profiles, memories and their history (a memory's source_call_sid may then name a purged call),
per-caller personality averages, knowledge, the audit log.

Every tenant gets an audit entry `retention.purged` with the counts when anything was deleted,
and a log line; neither carries a phone number or call content.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime

import asyncpg
import structlog

from memory import audit
from memory.db import ACQUIRE_TIMEOUT_S, Conn, tenant_tx

log = structlog.get_logger(__name__)

BATCH_SIZE = 500
STATEMENT_TIMEOUT_S = 30.0
# A batch waiting behind another transaction's row lock gives up (and the next run retries)
# rather than queueing the call path's writers behind itself.
LOCK_TIMEOUT = "5s"

RecordingRemover = Callable[[str, tuple[str, ...]], tuple[int, list[str]]]
"""(tenant_id, recording_sids) -> (files removed, names that could not be removed); called
once per batch, in a worker thread. `memory.recording_files.RecordingStore.remove_many`."""

_TENANTS = "SELECT retention_tenants() AS tenant_id"
_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', $1, true)"
_CUTOFF = """
SELECT retention_days, now() - make_interval(days => retention_days) AS cutoff
FROM agent_configs WHERE tenant_id = $1
"""
# started_at <= coalesce(ended_at, started_at), so the first condition only narrows the scan to
# the calls_tenant_started index range without changing which calls are due.
_DUE = """
SELECT call_sid FROM calls
WHERE tenant_id = $1 AND started_at < $2 AND coalesce(ended_at, started_at) < $2
ORDER BY started_at
LIMIT $3
FOR UPDATE SKIP LOCKED
"""
# Every table keyed by call (a test holds this list against the catalog), children first.
_DELETE_CHILDREN: tuple[tuple[str, str], ...] = (
    ("turns", "DELETE FROM call_turns WHERE tenant_id = $1 AND call_sid = ANY($2::text[])"),
    ("events", "DELETE FROM call_events WHERE tenant_id = $1 AND call_sid = ANY($2::text[])"),
    ("messages", "DELETE FROM messages WHERE tenant_id = $1 AND call_sid = ANY($2::text[])"),
    (
        "summaries",
        "DELETE FROM call_summaries WHERE tenant_id = $1 AND call_sid = ANY($2::text[])",
    ),
    (
        "personality",
        "DELETE FROM personality_metrics WHERE tenant_id = $1 AND call_sid = ANY($2::text[])",
    ),
    (
        "consolidations",
        "DELETE FROM memory_consolidations WHERE tenant_id = $1 AND call_sid = ANY($2::text[])",
    ),
    ("jobs", "DELETE FROM post_call_jobs WHERE tenant_id = $1 AND call_sid = ANY($2::text[])"),
    (
        "verifications",
        "DELETE FROM verification_attempts WHERE tenant_id = $1 AND call_sid = ANY($2::text[])",
    ),
)
_DELETE_RECORDINGS = """
DELETE FROM recordings WHERE tenant_id = $1 AND call_sid = ANY($2::text[])
RETURNING recording_sid
"""
_DELETE_CALLS = "DELETE FROM calls WHERE tenant_id = $1 AND call_sid = ANY($2::text[])"

PURGED_TABLES = frozenset(
    {
        "calls",
        "recordings",
        "call_turns",
        "call_events",
        "messages",
        "call_summaries",
        "personality_metrics",
        "memory_consolidations",
        "post_call_jobs",
        "verification_attempts",
    }
)


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """Rows deleted per kind, and recording files removed from the store."""

    calls: int = 0
    turns: int = 0
    events: int = 0
    messages: int = 0
    summaries: int = 0
    personality: int = 0
    consolidations: int = 0
    jobs: int = 0
    verifications: int = 0
    recordings: int = 0
    files: int = 0

    def __add__(self, other: PurgeCounts) -> PurgeCounts:
        return PurgeCounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TenantPurge:
    """One tenant's result; `failed` when a batch or a file removal raised (what committed
    before stays committed and is counted)."""

    tenant_id: str
    retention_days: int | None
    counts: PurgeCounts
    failed: bool = False


@dataclass(frozen=True, slots=True)
class PurgeBatch:
    """One committed batch: the tenant's retention period (None: it has no agent config, so
    nothing is due), what was deleted, and the recordings whose files are to be removed."""

    retention_days: int | None
    counts: PurgeCounts
    recording_sids: tuple[str, ...]


def _affected(status: str) -> int:
    """Row count from a command tag such as 'DELETE 12'."""
    return int(status.rsplit(" ", 1)[-1])


async def retention_tenants(pool: asyncpg.Pool) -> list[str]:
    """Ids of every tenant, suspended ones included."""
    async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        rows = await conn.fetch(_TENANTS, timeout=STATEMENT_TIMEOUT_S)
    return [str(r["tenant_id"]) for r in rows]


async def _delete_due(
    conn: Conn, tenant: uuid.UUID, cutoff: datetime, limit: int
) -> tuple[PurgeCounts, tuple[str, ...]]:
    due = await conn.fetch(_DUE, tenant, cutoff, limit, timeout=STATEMENT_TIMEOUT_S)
    sids = [r["call_sid"] for r in due]
    if not sids:
        return PurgeCounts(), ()
    counts: dict[str, int] = {}
    for name, statement in _DELETE_CHILDREN:
        counts[name] = _affected(
            await conn.execute(statement, tenant, sids, timeout=STATEMENT_TIMEOUT_S)
        )
    recordings = await conn.fetch(_DELETE_RECORDINGS, tenant, sids, timeout=STATEMENT_TIMEOUT_S)
    counts["recordings"] = len(recordings)
    counts["calls"] = _affected(
        await conn.execute(_DELETE_CALLS, tenant, sids, timeout=STATEMENT_TIMEOUT_S)
    )
    return PurgeCounts(**counts), tuple(r["recording_sid"] for r in recordings)


async def purge_batch(pool: asyncpg.Pool, tenant_id: str, limit: int = BATCH_SIZE) -> PurgeBatch:
    """Delete up to `limit` due calls of one tenant and what hangs off them, in one
    transaction; returns the counts and the recording sids whose files are to go."""
    tenant = uuid.UUID(tenant_id)
    async with tenant_tx(pool, tenant_id, timeout=STATEMENT_TIMEOUT_S) as conn:
        await conn.execute(_LOCK_TIMEOUT, LOCK_TIMEOUT, timeout=STATEMENT_TIMEOUT_S)
        policy = await conn.fetchrow(_CUTOFF, tenant, timeout=STATEMENT_TIMEOUT_S)
        if policy is None:  # no agent config: no retention policy, keep everything
            return PurgeBatch(None, PurgeCounts(), ())
        counts, recording_sids = await _delete_due(conn, tenant, policy["cutoff"], limit)
    return PurgeBatch(policy["retention_days"], counts, recording_sids)


async def _remove_files(
    tenant_id: str, recording_sids: tuple[str, ...], remove: RecordingRemover
) -> tuple[int, bool]:
    """(files removed, whether any removal failed). Rows are gone already: a file that cannot
    be removed is logged and left as an orphan."""
    if not recording_sids:
        return 0, False
    try:
        removed, failed = await asyncio.to_thread(remove, tenant_id, recording_sids)
    except (OSError, ValueError) as exc:
        log.warning("retention_files_not_removed", tenant_id=tenant_id, error=repr(exc))
        return 0, True
    if failed:
        log.warning("retention_files_not_removed", tenant_id=tenant_id, files=failed)
    return removed, bool(failed)


async def purge_tenant(
    pool: asyncpg.Pool,
    tenant_id: str,
    remove: RecordingRemover,
    *,
    batch_size: int = BATCH_SIZE,
) -> TenantPurge:
    """Purge one tenant batch by batch until a batch comes back short; audit and log it."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    total, days, failed = PurgeCounts(), None, False
    try:
        while True:
            batch = await purge_batch(pool, tenant_id, batch_size)
            days = batch.retention_days if batch.retention_days is not None else days
            files, files_failed = await _remove_files(tenant_id, batch.recording_sids, remove)
            total = total + batch.counts + PurgeCounts(files=files)
            failed = failed or files_failed
            if batch.counts.calls < batch_size:
                break
    except Exception as exc:  # the next run retries; what committed is counted and audited
        failed = True
        log.warning("retention_purge_failed", tenant_id=tenant_id, error=repr(exc))
    result = TenantPurge(tenant_id, days, total, failed)
    if total.calls:
        try:
            changes = {"retention_days": days, **total.as_dict()}
            async with tenant_tx(pool, tenant_id) as conn:
                await audit.write(conn, tenant_id, audit.SYSTEM, "retention.purged", None, changes)
        except Exception as exc:
            log.warning("retention_audit_failed", tenant_id=tenant_id, error=repr(exc))
        log.info("retention_purged", tenant_id=tenant_id, retention_days=days, **total.as_dict())
    else:
        log.debug("retention_nothing_due", tenant_id=tenant_id, failed=failed)
    return result


async def purge_all(
    pool: asyncpg.Pool, remove: RecordingRemover, *, batch_size: int = BATCH_SIZE
) -> list[TenantPurge]:
    """Purge every tenant in turn; one tenant's failure never stops the others."""
    results = [
        await purge_tenant(pool, tenant_id, remove, batch_size=batch_size)
        for tenant_id in await retention_tenants(pool)
    ]
    total = sum((r.counts for r in results), PurgeCounts())
    log.info(
        "retention_run",
        tenants=len(results),
        failed=sum(r.failed for r in results),
        **total.as_dict(),
    )
    return results
