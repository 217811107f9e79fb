"""What one turn batch costs the memory actor in round trips to Postgres: the transaction's own
statements and nothing on release (its pool sends no reset query), on the same connection
counts the client keeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from engine.sim.openai_http import OpenAIHttpSimulator
from memory.call_records import CallStart
from tests.conftest import PgUrls
from tests.memory_support import SIM_KEY, memory_config, new_tenant, phone, script, sid, token

BATCHES = 20
WARM = 16
# BEGIN, the tenant, the tenant's content policy, the insert, COMMIT.
PER_BATCH = 5


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


def _queries(pool: asyncpg.Pool) -> int:
    """Statements sent so far over the pool's open connections."""
    holders = pool._holders  # type: ignore[attr-defined]
    return sum(h._con._protocol.queries_count for h in holders if h._con is not None)


async def test_a_turn_batch_is_its_transaction_and_no_reset(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    config = memory_config(
        pg_urls.app, jwt_secret, sim, outbox_poll_s=3600.0, post_call_poll_s=3600.0
    )
    actor = MemoryActor(config, index=1)  # no retention loop
    try:
        tenant = await new_tenant(app_pool)
        tok = token(jwt_secret, tenant)
        call_sid = sid()
        await actor.start_call(tok, CallStart(call_sid, phone(), "+15550000000"))
        await asyncio.sleep(0.3)  # the outbox wake the call row caused has been served
        pool = await actor._db()
        lines = [("caller", "My card is 4111 1111 1111 1111.")] * (WARM + BATCHES)
        turns = script(lines)
        for turn in turns[:WARM]:  # every pooled connection has prepared the statements
            await actor.append_turns(tok, call_sid, [turn])
        before = _queries(pool)
        for turn in turns[WARM:]:
            await actor.append_turns(tok, call_sid, [turn])
        assert _queries(pool) - before == BATCHES * PER_BATCH
        stored = await actor.load_turns(tok, call_sid)
        assert [t.seq for t in stored] == [t.seq for t in turns]
        assert "4111" not in stored[0].text  # still redacted
    finally:
        await actor.close()
