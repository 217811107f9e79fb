"""The memory benchmark's measurements (`bench.memory_context`) on a loaded data set.

Through a real MemoryActor (token check, tenant transaction, the same queries a call uses):
`caller_context` one request at a time and 8 at a time; tenant-wide semantic search over the
memories at several `ef_search` values, with its recall@10 against an exact scan; the query plans
of the caller-context searches. Agenda embeddings come from the shipped OpenAI HTTP simulator.

I/O: asyncpg and the MemoryActor's pool to the given databases, the simulator on 127.0.0.1;
results on stdout.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Sequence

import asyncpg
import numpy as np

from actors.memory_actor import MemoryActor
from bench.memory_data import DIMS, caller_number, say, unit_vectors
from engine.config import EngineConfig
from engine.sim.openai_http import OpenAIHttpSimulator
from engine.tokens import MEMORY_AUDIENCE, KeyRing, mint
from memory import recall
from memory.db import create_pool
from memory.embeddings import as_vector

AGENDAS = (
    "Help callers with auto insurance claims and policy changes.",
    "Home insurance renewals, property questions and billing.",
    "New business: quotes for auto, home and life insurance.",
    "Claims support after accidents, storms and theft.",
)
SIM_KEY = "sk-bench"


def _percentiles(samples: Sequence[float]) -> str:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"p50 {statistics.median(ordered):.2f} ms  p95 {pick(0.95):.2f} ms  "
        f"p99 {pick(0.99):.2f} ms  max {ordered[-1]:.2f} ms  (n={len(ordered)})"
    )


async def measure(
    superuser_db: str,
    app_url: str,
    tenant_ids: Sequence[str],
    *,
    callers: int,
    requests: int,
    seed: int,
) -> None:
    secret = "b" * 48
    ring = KeyRing.single(secret)
    tokens = {
        t: mint(ring, tenant_id=t, subject="bench", audience=MEMORY_AUDIENCE, ttl_s=3600)
        for t in tenant_ids
    }
    per_tenant = callers // len(tenant_ids)
    pick = random.Random(seed)

    def target() -> tuple[str, str]:
        t_index = pick.randrange(len(tenant_ids))
        return tenant_ids[t_index], caller_number(t_index * per_tenant + pick.randrange(per_tenant))

    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as sim:
        config = EngineConfig(
            app_database_url=app_url,
            jwt_secret=secret,
            llm_base_url=sim.base_url,
            llm_api_key=SIM_KEY,
            embedding_provider="openai",
            post_call_queue="bench",
        )
        actor = MemoryActor(config)
        try:
            await actor.check_health()
            for _ in range(200):  # warm the pool, the agenda cache and the page cache
                tenant, caller = target()
                await actor.caller_context(tokens[tenant], caller, agenda=pick.choice(AGENDAS))
            tenant, caller = target()
            ctx = await actor.caller_context(tokens[tenant], caller, agenda=AGENDAS[0])
            say(
                f"one context: {len(ctx.memories)} memories, {len(ctx.summaries)} summaries, "
                f"{len(ctx.knowledge)} knowledge entries, personality {len(ctx.personality)}"
            )
            for label, agenda in (("with an agenda (semantic)", True), ("no agenda", False)):
                samples = []
                for _ in range(requests):
                    tenant, caller = target()
                    started = time.perf_counter()
                    await actor.caller_context(
                        tokens[tenant], caller, agenda=pick.choice(AGENDAS) if agenda else ""
                    )
                    samples.append((time.perf_counter() - started) * 1000)
                say(f"caller_context, one at a time, {label}: {_percentiles(samples)}")

            samples = []

            async def worker(n: int) -> None:
                for _ in range(n):
                    tenant, caller = target()
                    started = time.perf_counter()
                    await actor.caller_context(tokens[tenant], caller, agenda=pick.choice(AGENDAS))
                    samples.append((time.perf_counter() - started) * 1000)

            started = time.perf_counter()
            await asyncio.gather(*(worker(requests // 8) for _ in range(8)))
            elapsed = time.perf_counter() - started
            say(
                f"caller_context, 8 concurrent: {_percentiles(samples)}; "
                f"{len(samples) / elapsed:,.0f} contexts/s"
            )
            pool = await create_pool(app_url, min_size=1, max_size=2)
            try:
                await _search(pool, superuser_db, tenant_ids, pick)
            finally:
                await pool.close()
            await _explain(superuser_db, tenant_ids[0], caller_number(0))
        finally:
            await actor.close()


async def _search(
    pool: asyncpg.Pool, superuser_db: str, tenant_ids: Sequence[str], pick: random.Random
) -> None:
    rng = np.random.default_rng(pick.randrange(2**32))
    queries = [
        (pick.choice(tenant_ids), as_vector(unit_vectors(rng, 1)[0].tolist())) for _ in range(200)
    ]
    exact_conn = await asyncpg.connect(superuser_db, command_timeout=120)
    try:
        truth = [
            {
                r["content"]
                for r in await exact_conn.fetch(
                    # MATERIALIZED: an exact scan, never the HNSW index
                    "WITH t AS MATERIALIZED (SELECT content, embedding FROM memories "
                    "WHERE tenant_id = $1) SELECT content FROM t "
                    "ORDER BY embedding <=> $2::vector LIMIT 10",
                    uuid.UUID(tenant),
                    vector,
                )
            }
            for tenant, vector in queries[:20]
        ]
    finally:
        await exact_conn.close()
    for ef_search in (40, 100, 200, 400, recall.EF_SEARCH):
        samples: list[float] = []
        recalls: list[float] = []
        timeouts = 0
        for i, (tenant, vector) in enumerate(queries):
            started = time.perf_counter()
            try:
                hits = await recall.search(pool, tenant, None, vector, 10, ef_search=ef_search)
            except TimeoutError:
                timeouts += 1  # counted at the timeout: the caller saw a failure that long
                hits = []
            samples.append((time.perf_counter() - started) * 1000)
            if i < len(truth):
                found = {h.text for h in hits if h.source == "memory"}
                recalls.append(len(found & truth[i]) / 10)
        say(
            f"tenant-wide search, ef_search={ef_search} (memories + summaries + knowledge): "
            f"{_percentiles(samples)}; memory recall@10 vs exact {statistics.mean(recalls):.2f}"
            + (f"; {timeouts} timed out ({recall.SEARCH_TIMEOUT_S:.0f} s)" if timeouts else "")
        )


async def _explain(superuser_db: str, tenant: str, caller: str) -> None:
    conn = await asyncpg.connect(superuser_db)
    try:
        vector = as_vector([1.0] + [0.0] * (DIMS - 1))
        async with conn.transaction():
            await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            for name, sql, args in (
                (
                    "caller memories",
                    recall._CALLER_MEMORIES_BY_VECTOR,
                    (uuid.UUID(tenant), caller, vector, 8),
                ),
                ("knowledge", recall._KNOWLEDGE, (uuid.UUID(tenant), vector, 3)),
                ("tenant memories", recall._TENANT_MEMORIES, (uuid.UUID(tenant), vector, 10)),
            ):
                plan = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + sql, *args)
                lines = [r[0] for r in plan]
                scans = [line.strip() for line in lines if "Scan" in line]
                say(f"plan, {name}: {' / '.join(scans)}; {lines[-1].strip()}")
    finally:
        await conn.close()
