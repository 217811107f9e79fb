"""Caller-context latency with a million memories (prints numbers; not a test).

  python -m bench.memory_context [--tenants 100] [--callers 100000] [--memories 1000000]

Starts a fresh embedded Postgres (pgvector) in a temporary data dir, migrates it, and loads
generated data with COPY: the tenants, their callers' profiles, personality rollups and three
call summaries each, 20 knowledge entries per tenant, and the memories (random unit vectors of
the schema's 384 dimensions, one row per (caller, type, key)). The memories' HNSW index is
dropped for the load and rebuilt afterwards, timed. Then it measures, through a real
MemoryActor (token check, tenant transaction, the same queries a call uses):
- `caller_context` p50/p95/p99 for random callers, one request at a time and 8 at a time;
- tenant-wide semantic search over the memories (HNSW with `hnsw.iterative_scan`), with its
  recall@10 against an exact scan.
Agenda embeddings come from the shipped OpenAI HTTP simulator and are cached per agenda, as in
the engine, so the numbers are the database path. `--vectors clustered` draws vectors around
256 topic directions, closer to real sentence embeddings than uniform random ones (on which
HNSW has nothing to work with: recall@10 ~0.07 at 1M). `--data-dir` keeps the loaded data
for another run (the 1M load and index build take 15-25 minutes on 2 cores).

Measured on the 2-core / 24 GiB machine (shared with other work, so the tails vary by run),
1M memories, 100 tenants, 100k callers, HNSW build 758 s (clustered) / 1302 s (random):
  caller_context one at a time: p50 2.1-2.7 ms, p99 5-17 ms; 8 at a time: p99 17-40 ms at
  440-890 contexts/s. Tenant-wide search (ef_search 200), clustered vectors: p50 ~42 ms,
  recall@10 0.92; at 100k memories: p50 ~3.5 ms, recall@10 0.96.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import struct
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from actors.memory_actor import MemoryActor
from engine.config import EngineConfig
from engine.sim.openai_http import OpenAIHttpSimulator
from engine.tokens import MEMORY_AUDIENCE, KeyRing, mint
from memory import recall
from memory.db import create_pool
from memory.embedded import bootstrap, start_embedded
from memory.embeddings import as_vector
from memory.migrate import migrate

DIMS = 384
TYPES = (
    "person",
    "vehicle",
    "policy",
    "claim",
    "fact",
    "preference",
    "commitment",
    "property",
    "note",
    "identity",
)
AGENDAS = (
    "Help callers with auto insurance claims and policy changes.",
    "Home insurance renewals, property questions and billing.",
    "New business: quotes for auto, home and life insurance.",
    "Claims support after accidents, storms and theft.",
)
SIM_KEY = "sk-bench"
_VECTOR_HEADER = struct.Struct(">HH")


def _log(message: str) -> None:
    print(message, flush=True)  # a benchmark reports on stdout


def _unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """``n`` vectors: uniformly random on the sphere, or (``--vectors clustered``, closer to
    real sentence embeddings) around one of ``TOPICS`` topic directions, cosine ~0.7 to it."""
    if _TOPIC_CENTERS:
        centers = _TOPIC_CENTERS[0]
        picked = centers[rng.integers(0, len(centers), n)]
        noise = rng.standard_normal((n, DIMS), dtype=np.float32) / np.float32(np.sqrt(DIMS))
        vectors = picked + noise
    else:
        vectors = rng.standard_normal((n, DIMS), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


TOPICS = 256
_TOPIC_CENTERS: list[np.ndarray[Any, np.dtype[np.float32]]] = []


def use_clustered_vectors(seed: int) -> None:
    centers = np.random.default_rng(seed + 1).standard_normal((TOPICS, DIMS), dtype=np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    _TOPIC_CENTERS[:] = [centers]


def _binary(vectors: np.ndarray[Any, np.dtype[np.float32]]) -> list[bytes]:
    """pgvector's binary wire format, one bytes object per row."""
    header = _VECTOR_HEADER.pack(DIMS, 0)
    big_endian = vectors.astype(">f4")
    return [header + row.tobytes() for row in big_endian]


def _caller(index: int) -> str:
    return f"+1555{index:07d}"


def _percentiles(samples: Sequence[float]) -> str:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"p50 {statistics.median(ordered):.2f} ms  p95 {pick(0.95):.2f} ms  "
        f"p99 {pick(0.99):.2f} ms  max {ordered[-1]:.2f} ms  (n={len(ordered)})"
    )


async def _raw_codecs(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "vector", schema="public", encoder=bytes, decoder=bytes, format="binary"
    )


async def load(
    superuser_db: str, *, tenants: int, callers: int, memories: int, seed: int
) -> list[str]:
    """Generate and COPY the data set; returns the tenant ids."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    tenant_ids = [str(uuid.uuid4()) for _ in range(tenants)]
    conn = await asyncpg.connect(superuser_db, command_timeout=None)
    try:
        await _raw_codecs(conn)
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "tenants",
            records=[(uuid.UUID(t), f"Agency {i}") for i, t in enumerate(tenant_ids)],
            columns=["tenant_id", "name"],
        )
        await conn.copy_records_to_table(
            "agent_configs", records=[(uuid.UUID(t),) for t in tenant_ids], columns=["tenant_id"]
        )
        per_tenant = callers // tenants
        now = time.time()

        def caller_rows() -> Iterator[tuple[uuid.UUID, str, int]]:
            for t_index, tenant in enumerate(tenant_ids):
                for c in range(per_tenant):
                    yield uuid.UUID(tenant), _caller(t_index * per_tenant + c), c

        profiles, averages, summaries = [], [], []
        base = datetime.fromtimestamp(now, UTC)
        scores = json.dumps({"openness": 55.0, "patience": 40.0, "formality": 70.0})
        recent = json.dumps({"frustration": 65.0, "satisfaction": 40.0, "urgency": 50.0})
        for tenant, number, c in caller_rows():
            first = base - timedelta(days=400 - c % 300)
            profiles.append((tenant, number, f"Caller {c}", first, base, 3))
            averages.append((tenant, number, 3, scores, recent, "{}"))
            for n in range(3):
                summaries.append(
                    (
                        tenant,
                        "CA" + uuid.uuid4().hex,
                        number,
                        first + timedelta(days=n * 30),
                        f"Call {n} of caller {c} about their auto policy and a claim.",
                    )
                )
        await conn.copy_records_to_table(
            "caller_profiles",
            records=profiles,
            columns=[
                "tenant_id",
                "caller_number",
                "preferred_name",
                "first_call_at",
                "last_call_at",
                "total_calls",
            ],
        )
        await conn.copy_records_to_table(
            "personality_averages",
            records=averages,
            columns=["tenant_id", "caller_number", "calls", "averages", "recent", "trend"],
        )
        await conn.copy_records_to_table(
            "call_summaries",
            records=summaries,
            columns=["tenant_id", "call_sid", "caller_number", "call_at", "summary"],
        )
        _log(
            f"profiles, rollups, {len(summaries)} summaries: {time.perf_counter() - started:.1f} s"
        )
        knowledge = []
        vectors = _binary(_unit_vectors(rng, tenants * 20))
        for t_index, tenant_id in enumerate(tenant_ids):
            for k in range(20):
                knowledge.append(
                    (
                        uuid.UUID(tenant_id),
                        pick.choice(("fact", "rule", "procedure", "faq")),
                        f"Entry {k}",
                        f"How the agency handles topic {k}.",
                        vectors[t_index * 20 + k],
                    )
                )
        await conn.copy_records_to_table(
            "knowledge_entries",
            records=knowledge,
            columns=["tenant_id", "kind", "title", "body", "embedding"],
        )

        index_def = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'memories_embedding'"
        )
        await conn.execute("DROP INDEX memories_embedding")
        per_caller = memories // callers
        started = time.perf_counter()
        copied = 0
        batch_callers = 5000
        all_callers = list(caller_rows())
        for start in range(0, len(all_callers), batch_callers):
            group = all_callers[start : start + batch_callers]
            vectors = _binary(_unit_vectors(rng, len(group) * per_caller))
            chunk: list[tuple[Any, ...]] = []
            for g, (tenant, number, c) in enumerate(group):
                for m in range(per_caller):
                    kind = TYPES[m % len(TYPES)]
                    content = f"{kind} {m} of caller {c}"
                    chunk.append(
                        (
                            tenant,
                            number,
                            kind,
                            f"k{m}",
                            json.dumps({"v": content}),
                            content,
                            vectors[g * per_caller + m],
                        )
                    )
            await conn.copy_records_to_table(
                "memories",
                records=chunk,
                columns=[
                    "tenant_id",
                    "caller_number",
                    "type",
                    "key",
                    "value",
                    "content",
                    "embedding",
                ],
            )
            copied += len(chunk)
            if copied % 200_000 < len(chunk):
                rate = copied / (time.perf_counter() - started)
                _log(f"  memories copied: {copied:,} ({rate:,.0f} rows/s)")
        _log(f"{copied:,} memories: COPY in {time.perf_counter() - started:.1f} s")

        await conn.execute("SET maintenance_work_mem = '4GB'")
        await conn.execute("SET max_parallel_maintenance_workers = 1")  # 2 cores: leader + 1
        started = time.perf_counter()
        await conn.execute(index_def)
        _log(
            f"HNSW index on {copied:,} x {DIMS}-dim vectors built in "
            f"{time.perf_counter() - started:.1f} s (m=16, ef_construction=64, 2 processes)"
        )
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        _log(f"VACUUM ANALYZE: {time.perf_counter() - started:.1f} s")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_relation_size('memories_embedding'))")
        table = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('memories'))")
        _log(f"memories: {table} with indexes; HNSW index alone {size}")
    finally:
        await conn.close()
    return tenant_ids


async def prewarm(superuser_db: str) -> None:
    """Read what caller_context touches into the OS page cache, as a warm production server
    would have it (the HNSW index is not on that path)."""
    conn = await asyncpg.connect(superuser_db, command_timeout=None)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        started = time.perf_counter()
        blocks = 0
        for relation in (
            "memories",
            "memories_tenant_id_caller_number_type_key_key",
            "caller_profiles",
            "caller_profiles_pkey",
            "personality_averages",
            "personality_averages_pkey",
            "call_summaries",
            "call_summaries_caller",
            "knowledge_entries",
        ):
            blocks += await conn.fetchval("SELECT pg_prewarm($1::regclass, 'read')", relation)
        _log(f"prewarmed {blocks * 8 / 1024:,.0f} MB in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()


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
        return tenant_ids[t_index], _caller(t_index * per_tenant + pick.randrange(per_tenant))

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
            _log(
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
                _log(f"caller_context, one at a time, {label}: {_percentiles(samples)}")

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
            _log(
                f"caller_context, 8 concurrent: {_percentiles(samples)}; "
                f"{len(samples) / elapsed:,.0f} contexts/s"
            )
            pool = await create_pool(app_url, min_size=1, max_size=2)
            try:
                await _search(pool, superuser_db, tenant_ids, pick)
            finally:
                await pool.close()
            await _explain(superuser_db, tenant_ids[0], _caller(0))
        finally:
            await actor.close()


async def _search(
    pool: asyncpg.Pool, superuser_db: str, tenant_ids: Sequence[str], pick: random.Random
) -> None:
    rng = np.random.default_rng(pick.randrange(2**32))
    queries = [
        (pick.choice(tenant_ids), as_vector(_unit_vectors(rng, 1)[0].tolist())) for _ in range(200)
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
        _log(
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
                _log(f"plan, {name}: {' / '.join(scans)}; {lines[-1].strip()}")
    finally:
        await conn.close()


async def main_async(args: argparse.Namespace) -> None:
    root = Path(args.data_dir or tempfile.mkdtemp(prefix="neurosphere-bench-memory-"))
    started = time.perf_counter()
    # A kept data dir is stopped at the end, not deleted; a temporary one is deleted.
    server, urls = start_embedded(root, cleanup="delete" if args.data_dir is None else "stop")
    superuser = str(server.get_uri())
    await bootstrap(superuser)
    await migrate(urls.owner)
    superuser_db = superuser.replace("/postgres?", "/neurosphere?", 1)
    _log(f"postgres ready in {time.perf_counter() - started:.1f} s under {root}")
    try:
        conn = await asyncpg.connect(superuser_db)
        # Callers were numbered tenant by tenant: recover that order from the data.
        existing = await conn.fetch(
            "SELECT tenant_id FROM caller_profiles GROUP BY tenant_id ORDER BY min(caller_number)"
        )
        await conn.close()
        if existing:
            tenant_ids = [str(r["tenant_id"]) for r in existing]
            _log(f"reusing {len(tenant_ids)} tenants already loaded under {root}")
        else:
            tenant_ids = await load(
                superuser_db,
                tenants=args.tenants,
                callers=args.callers,
                memories=args.memories,
                seed=args.seed,
            )
        await prewarm(superuser_db)
        await measure(
            superuser_db,
            urls.app,
            tenant_ids,
            callers=args.callers,
            requests=args.requests,
            seed=args.seed,
        )
    finally:
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--callers", type=int, default=100_000)
    parser.add_argument("--memories", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", default=None, help="keep (and reuse) the data here")
    parser.add_argument(
        "--vectors",
        choices=("random", "clustered"),
        default="random",
        help="uniform random unit vectors (HNSW's worst case) or topic clusters",
    )
    args = parser.parse_args()
    if args.vectors == "clustered":
        use_clustered_vectors(args.seed)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
