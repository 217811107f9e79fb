"""The durable post-call queue: retries with backoff, final failures, a worker that dies
holding a lease, a restart of the engine, several workers racing, and vectors backfilled after
an embedding outage. Every result must be applied exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from engine.sim.openai_http import OpenAIHttpSimulator
from memory import agent_settings, caller_memory, jobs
from memory.audit import SYSTEM
from memory.call_records import CallEnd, CallStart
from memory.caller_records import NewMemory
from memory.db import tenant_tx
from tests.conftest import PgUrls
from tests.memory_support import (
    SIM_KEY,
    count,
    memory_config,
    new_tenant,
    phone,
    record_call,
    script,
    sid,
    token,
    wait_job,
)

CALL = [
    ("agent", "Hello, this is Ava."),
    ("caller", "Hi, I'm Marco. My son Luca just got his license."),
    ("caller", "Add him to the policy number PA-10001 please. Thanks, bye."),
]


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


async def outcome(pool: asyncpg.Pool, tenant: str, caller: str) -> tuple[int, int, int]:
    """(total_calls, summaries, personality rows) of one caller."""
    calls = await count(
        pool,
        tenant,
        "SELECT coalesce(max(total_calls), 0) FROM caller_profiles WHERE caller_number = $1",
        caller,
    )
    summaries = await count(
        pool, tenant, "SELECT count(*) FROM call_summaries WHERE caller_number = $1", caller
    )
    metrics = await count(
        pool, tenant, "SELECT count(*) FROM personality_metrics WHERE caller_number = $1", caller
    )
    return calls, summaries, metrics


async def test_a_failing_model_is_retried_with_backoff(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim))
    try:
        tenant = await new_tenant(app_pool)
        tok = token(jwt_secret, tenant)
        caller = phone()
        call_sid = await record_call(actor, tok, caller, CALL)
        sim.fail_next(503, times=2)  # the SDK's own retry fails too: the attempt fails
        await actor.enqueue_post_call(tok, call_sid, caller)
        status = await wait_job(actor, tok, call_sid)
        assert (status.status, status.attempts, status.last_error) == ("done", 2, None)
        assert await outcome(app_pool, tenant, caller) == (1, 1, 1)
    finally:
        await actor.close()


async def test_final_failures_stop_retrying(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim, post_call_max_attempts=2))
    try:
        tenant = await new_tenant(app_pool)
        tok = token(jwt_secret, tenant)
        refused, flaky = phone(), phone()
        refused_sid = await record_call(actor, tok, refused, CALL)
        sim.fail_next(401)  # a bad key: no point retrying
        await actor.enqueue_post_call(tok, refused_sid, refused)
        status = await wait_job(actor, tok, refused_sid)
        assert (status.status, status.attempts) == ("failed", 1)
        assert status.last_error is not None
        assert "401" in status.last_error

        flaky_sid = await record_call(actor, tok, flaky, CALL)
        sim.fail_next(500, times=4)  # two attempts of two requests each
        await actor.enqueue_post_call(tok, flaky_sid, flaky)
        status = await wait_job(actor, tok, flaky_sid)
        assert (status.status, status.attempts) == ("failed", 2)
        assert await outcome(app_pool, tenant, flaky) == (0, 0, 0)
    finally:
        await actor.close()


async def test_a_worker_that_died_mid_job_is_replaced_after_its_lease(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    config = memory_config(pg_urls.app, jwt_secret, sim)
    first = MemoryActor(config)
    tenant = await new_tenant(app_pool)
    tok = token(jwt_secret, tenant)
    caller = phone()
    call_sid = await record_call(first, tok, caller, CALL)
    # Queued by a memory actor that then went away with the engine (no drain ran yet)...
    await jobs.enqueue(app_pool, tenant, call_sid, caller, config.post_call_queue)
    await first.close()
    # ...and a worker that claimed it and died holding a short lease.
    dead = await jobs.claim(app_pool, config.post_call_queue, lease_s=1, max_attempts=6)
    assert dead is not None
    assert dead.call_sid == call_sid
    assert await jobs.claim(app_pool, config.post_call_queue, lease_s=1, max_attempts=6) is None

    second = MemoryActor(config)  # the engine restarted
    try:
        await second.check_health()  # starts the drain loop, as start-up does
        status = await wait_job(second, tok, call_sid)
        assert (status.status, status.attempts) == ("done", 2)
        async with app_pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant)
            assert not await jobs.finish(conn, dead, 0)  # the dead worker's lease is void
        assert await outcome(app_pool, tenant, caller) == (1, 1, 1)
    finally:
        await second.close()


async def test_racing_workers_apply_each_call_once(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    config = memory_config(pg_urls.app, jwt_secret, sim)
    workers = [MemoryActor(config, i) for i in range(3)]
    try:
        tenant = await new_tenant(app_pool)
        tok = token(jwt_secret, tenant)
        caller = phone()
        sids = [await record_call(workers[0], tok, caller, CALL) for _ in range(6)]
        for call_sid in sids:
            await jobs.enqueue(app_pool, tenant, call_sid, caller, config.post_call_queue)
        # Explicit runs race each worker's own drain loop too.
        ran = await asyncio.gather(*(w.run_post_call_jobs(limit=10) for w in workers))
        assert sum(ran) <= 6
        for call_sid in sids:
            assert (await wait_job(workers[0], tok, call_sid)).attempts == 1
        assert await outcome(app_pool, tenant, caller) == (6, 6, 6)
        (person,) = [
            m
            for m in await caller_memory.list_memories(app_pool, tenant, caller)
            if m.type == "person"
        ]
        assert (person.key, person.version) == ("son:luca", 1)
    finally:
        for worker in workers:
            await worker.close()


async def test_vectors_missed_during_an_outage_are_backfilled(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim))
    try:
        tenant = await new_tenant(app_pool)
        tok = token(jwt_secret, tenant)
        caller = phone()
        await actor.check_health()
        sim.fail_next(503, times=2)
        await actor.remember(tok, NewMemory(caller, "CA" + "0" * 32, "note", "gate code", "4512"))
        (note,) = await caller_memory.list_memories(app_pool, tenant, caller)
        assert not note.has_embedding  # stored anyway: the call path never waits for vectors
        async with tenant_tx(app_pool, tenant) as conn:  # as the admin API saves knowledge
            await conn.execute(
                "INSERT INTO knowledge_entries (tenant_id, kind, title, body) "
                "VALUES ($1, 'procedure', 'Hail claims', 'Hail claims need photos of the roof.')",
                uuid.UUID(tenant),
            )
        ctx = await actor.caller_context(tok, caller, agenda="hail claims photos")
        assert ctx.knowledge == ()
        call_sid = await record_call(actor, tok, caller, [("agent", "Hello?")])
        await actor.enqueue_post_call(tok, call_sid, caller)
        await wait_job(actor, tok, call_sid)
        (note,) = await caller_memory.list_memories(app_pool, tenant, caller)
        assert note.has_embedding
        ctx = await actor.caller_context(tok, caller, agenda="hail claims photos")
        assert [k.title for k in ctx.knowledge] == ["Hail claims"]
        assert sim.count("/v1/chat/completions") == 0  # nobody spoke: no model call
        assert await outcome(app_pool, tenant, caller) == (1, 0, 0)
    finally:
        await actor.close()


async def test_a_job_queued_before_the_call_ended_waits_for_it(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim, post_call_backoff_s=0.5))
    try:
        tenant = await new_tenant(app_pool)
        # an agency that keeps policy numbers (redaction, on by default, would replace it)
        await agent_settings.update_settings(
            app_pool, tenant, SYSTEM, lambda s: replace(s, pii_redaction=False)
        )
        tok = token(jwt_secret, tenant)
        caller, call_sid = phone(), sid()
        await actor.start_call(tok, CallStart(call_sid, caller, "+15550000000"))
        await actor.append_turns(tok, call_sid, script(CALL[:2]))
        await actor.enqueue_post_call(tok, call_sid, caller)
        waiting = await wait_job(actor, tok, call_sid, until=("pending",))
        while waiting.attempts == 0:
            waiting = await wait_job(actor, tok, call_sid, until=("pending",))
        assert waiting.last_error is not None
        assert "CallInProgress" in waiting.last_error
        await actor.append_turns(tok, call_sid, script(CALL[2:], start=2))  # the last words
        await actor.finish_call(tok, call_sid, CallEnd("caller_hung_up"))
        done = await wait_job(actor, tok, call_sid)
        assert done.status == "done"
        memories = await caller_memory.list_memories(app_pool, tenant, caller)
        assert {m.type for m in memories} >= {"person", "policy"}  # from the first and last turns
    finally:
        await actor.close()
