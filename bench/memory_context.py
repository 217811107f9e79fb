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

I/O: the embedded Postgres it starts (and stops) under a temporary or kept data dir; the data
set is `bench.memory_data`, the measurements `bench.memory_measure`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import asyncpg

from bench.memory_data import load, prewarm, say, use_clustered_vectors
from bench.memory_measure import measure
from memory.embedded import bootstrap, start_embedded
from memory.migrate import migrate


async def main_async(args: argparse.Namespace) -> None:
    root = Path(args.data_dir or tempfile.mkdtemp(prefix="neurosphere-bench-memory-"))
    started = time.perf_counter()
    # A kept data dir is stopped at the end, not deleted; a temporary one is deleted.
    server, urls = start_embedded(root, cleanup="delete" if args.data_dir is None else "stop")
    superuser = str(server.get_uri())
    await bootstrap(superuser)
    await migrate(urls.owner)
    superuser_db = superuser.replace("/postgres?", "/neurosphere?", 1)
    say(f"postgres ready in {time.perf_counter() - started:.1f} s under {root}")
    try:
        conn = await asyncpg.connect(superuser_db)
        # Callers were numbered tenant by tenant: recover that order from the data.
        existing = await conn.fetch(
            "SELECT tenant_id FROM caller_profiles GROUP BY tenant_id ORDER BY min(caller_number)"
        )
        await conn.close()
        if existing:
            tenant_ids = [str(r["tenant_id"]) for r in existing]
            say(f"reusing {len(tenant_ids)} tenants already loaded under {root}")
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
