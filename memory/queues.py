"""How deep the durable work queues are (post-call jobs, outbox deliveries), for /metrics.
I/O: asyncpg, one SECURITY DEFINER function (migration 0020) that returns counts only."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from memory.db import ACQUIRE_TIMEOUT_S

DEPTHS_TIMEOUT_S = 2.0
_DEPTHS = "SELECT queue, state, n FROM queue_depths()"
STATES = {"post_call": ("pending", "running", "failed"), "outbox": ("pending", "running", "dead")}


@dataclass(frozen=True, slots=True)
class QueueDepth:
    queue: str  # post_call or outbox
    state: str  # pending, running, failed (post_call) or dead (outbox)
    n: int


async def depths(pool: asyncpg.Pool) -> list[QueueDepth]:
    """Every queue and state, zeros included."""
    async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        rows = await conn.fetch(_DEPTHS, timeout=DEPTHS_TIMEOUT_S)
    found = {(r["queue"], r["state"]): int(r["n"]) for r in rows}
    return [
        QueueDepth(queue, state, found.get((queue, state), 0))
        for queue, states in STATES.items()
        for state in states
    ]
