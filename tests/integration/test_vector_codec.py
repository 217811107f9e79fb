"""Vectors travel between the engine and Postgres in pgvector's binary form (the `pgvector`
package's asyncpg codec on every app-role pool), not as text literals: a list of floats is
a `vector` parameter as it is, and a `vector` column comes back as a `pgvector.Vector`."""

from __future__ import annotations

import math

from pgvector import Vector

from memory.db import create_pool
from tests.conftest import PgUrls

DIMS = 384


async def test_vectors_travel_in_binary_both_ways(pg_urls: PgUrls) -> None:
    pool = await create_pool(pg_urls.app, min_size=1, max_size=1)
    try:
        sent = [math.sin(i) for i in range(DIMS)]
        got = await pool.fetchval("SELECT $1::vector", sent)
        assert isinstance(got, Vector)
        values = got.to_list()
        assert len(values) == DIMS
        assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(values, sent, strict=True))
        # arrays of vectors too (batched upserts send one array per column)
        many = await pool.fetchval(
            "SELECT array_length($1::vector[], 1)", [Vector(sent), None, Vector([0.5] * DIMS)]
        )
        assert many == 3
        distance = await pool.fetchval("SELECT $1::vector <=> $2::vector", sent, sent)
        assert abs(distance) < 1e-6
    finally:
        await pool.close()
