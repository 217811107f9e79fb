"""The data set for the memory benchmark (`bench.memory_context`): generated, then loaded.

Tenants, their callers' profiles, personality rollups and three call summaries each, 20 knowledge
entries per tenant, and the memories (unit vectors of the schema's 384 dimensions, uniformly
random or around topic directions, one row per (caller, type, key)), all written with COPY; the
memories' HNSW index is dropped for the load and rebuilt afterwards, timed.

I/O: asyncpg to the superuser database URL it is given; progress on stdout.
"""

from __future__ import annotations

import json
import random
import struct
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np

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
_VECTOR_HEADER = struct.Struct(">HH")


def say(message: str) -> None:
    print(message, flush=True)  # a benchmark reports on stdout


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float32]]:
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


def caller_number(index: int) -> str:
    return f"+1555{index:07d}"


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
                    yield uuid.UUID(tenant), caller_number(t_index * per_tenant + c), c

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
        say(f"profiles, rollups, {len(summaries)} summaries: {time.perf_counter() - started:.1f} s")
        knowledge = []
        vectors = _binary(unit_vectors(rng, tenants * 20))
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
            vectors = _binary(unit_vectors(rng, len(group) * per_caller))
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
                say(f"  memories copied: {copied:,} ({rate:,.0f} rows/s)")
        say(f"{copied:,} memories: COPY in {time.perf_counter() - started:.1f} s")

        await conn.execute("SET maintenance_work_mem = '4GB'")
        await conn.execute("SET max_parallel_maintenance_workers = 1")  # 2 cores: leader + 1
        started = time.perf_counter()
        await conn.execute(index_def)
        say(
            f"HNSW index on {copied:,} x {DIMS}-dim vectors built in "
            f"{time.perf_counter() - started:.1f} s (m=16, ef_construction=64, 2 processes)"
        )
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        say(f"VACUUM ANALYZE: {time.perf_counter() - started:.1f} s")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_relation_size('memories_embedding'))")
        table = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('memories'))")
        say(f"memories: {table} with indexes; HNSW index alone {size}")
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
        say(f"prewarmed {blocks * 8 / 1024:,.0f} MB in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()
