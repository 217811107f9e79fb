"""A ramp step records the pool's stats in the result file: with calls live, the pool counts
them by (tenant id, name), which JSON cannot key; the record keys them by tenant id."""

from __future__ import annotations

import json

from actors.call_pool import CallPool
from bench.phase_readings import pool_record
from tests.unit.test_call_pool import CONFIG, TENANT, FakeFactory, _settle, _setup


async def test_a_pool_with_live_calls_is_written_to_the_result_file() -> None:
    factory = FakeFactory()
    factory.release.set()
    pool = CallPool(CONFIG, factory)
    await pool.warm_up(1.0)
    await pool.claim(_setup("CA1"))
    await pool.claim(_setup("CA2"))
    await _settle()
    stats = await pool.stats()
    record = json.loads(json.dumps(pool_record(stats)))
    assert record["active_by_tenant"] == {TENANT.tenant_id: 2}
    assert (record["active"], record["calls"]) == (stats["active"], stats["calls"])
