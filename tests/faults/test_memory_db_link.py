"""The memory actor's link to Postgres breaks: a TCP proxy between them drops links, stalls
them, and loses a COMMIT's answer. Requests fail fast instead of hanging, retries are safe
(nothing is stored twice, nothing is lost), the pool recovers by itself, and a call in progress
ends cleanly with its whole transcript."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from engine.sim.openai_http import OpenAIHttpSimulator
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Speak, WaitForAgent
from memory import caller_memory, calls
from memory.caller_records import NewMemory
from memory.errors import Unavailable
from tests.conftest import PgUrls
from tests.faults.tcp_proxy import TcpProxy, pg_proxy, via_proxy
from tests.integration.engine_harness import running_engine
from tests.memory_support import (
    SIM_KEY,
    count,
    memory_config,
    new_tenant,
    phone,
    record_call,
    sid,
    token,
    wait_job,
)

LINK_ERRORS = (Unavailable,)  # memory.db says so for every broken, stalled or refused link


@pytest.fixture
async def proxy(pg_urls: PgUrls) -> AsyncIterator[TcpProxy]:
    async with pg_proxy(pg_urls.app) as running:
        yield running


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


@pytest.fixture
async def actor(
    pg_urls: PgUrls, jwt_secret: str, sim: OpenAIHttpSimulator, proxy: TcpProxy
) -> AsyncIterator[MemoryActor]:
    config = memory_config(via_proxy(pg_urls.app, proxy), jwt_secret, sim, post_call_lease_s=3)
    memory = MemoryActor(config)
    await memory.check_health()
    yield memory
    proxy.resume()
    await memory.close()


async def test_a_lost_commit_answer_is_retried_without_duplicates(
    actor: MemoryActor, proxy: TcpProxy, app_pool: asyncpg.Pool, jwt_secret: str
) -> None:
    tenant = await new_tenant(app_pool)
    tok = token(jwt_secret, tenant)
    caller, call_sid = phone(), sid()
    claim = {"claim_number": "CLM-7", "status": "open"}
    proxy.stall_replies_after(b"COMMIT")
    request = asyncio.create_task(
        actor.remember(tok, NewMemory(caller, call_sid, "claim", "number:clm-7", claim))
    )
    await asyncio.wait_for(proxy.triggered.wait(), 10)
    # The server committed; the answer is stuck in the network. Then the link dies.
    for _ in range(50):
        if await count(app_pool, tenant, "SELECT count(*) FROM memories") == 1:
            break
        await asyncio.sleep(0.02)
    proxy.drop_all()
    proxy.resume()
    with pytest.raises(LINK_ERRORS):
        await asyncio.wait_for(request, 10)
    # The caller (or Ray's task retry) tries again: same key, same value, same row.
    await actor.remember(tok, NewMemory(caller, call_sid, "claim", "number:clm-7", claim))
    (memory,) = await caller_memory.list_memories(app_pool, tenant, caller)
    assert (memory.version, memory.has_embedding) == (1, True)
    assert await caller_memory.history(app_pool, tenant, caller, "claim", "number:clm-7") == []
    for _ in range(3):  # the pool replaced the dead connection
        assert len((await actor.caller_context(tok, caller)).memories) == 1


async def test_a_stalled_database_fails_fast_and_the_pool_recovers(
    actor: MemoryActor, proxy: TcpProxy, app_pool: asyncpg.Pool, jwt_secret: str
) -> None:
    tenant = await new_tenant(app_pool)
    tok = token(jwt_secret, tenant)
    caller = phone()
    await actor.remember(tok, NewMemory(caller, sid(), "person", "spouse", "Sarah, their wife"))
    proxy.stall()
    started = time.monotonic()
    with pytest.raises(LINK_ERRORS):
        await actor.caller_context(tok, caller)
    assert time.monotonic() - started < 8.0  # every query and acquire has a timeout
    proxy.resume()
    for _ in range(5):
        ctx = await asyncio.wait_for(actor.caller_context(tok, caller), 10)
        assert [m.key for m in ctx.memories] == ["spouse"]
    health = await actor.check_health()
    assert health["post_call_drain"] is True


async def test_a_post_call_job_survives_a_dropped_link(
    actor: MemoryActor,
    proxy: TcpProxy,
    app_pool: asyncpg.Pool,
    jwt_secret: str,
) -> None:
    tenant = await new_tenant(app_pool)
    tok = token(jwt_secret, tenant)
    caller = phone()
    lines = [("caller", "Hi, my name is Lena. My husband Tom drives a 2020 Subaru Outback.")]
    call_sid = await record_call(actor, tok, caller, lines)
    proxy.stall_replies_after(b"UPDATE post_call_jobs SET status = 'done'")
    await actor.enqueue_post_call(tok, call_sid, caller)
    await asyncio.wait_for(proxy.triggered.wait(), 10)  # the job is writing its results...
    proxy.drop_all()  # ...and the database goes away mid-transaction
    proxy.resume()
    status = await wait_job(actor, tok, call_sid, timeout=30)
    assert status.status == "done"
    assert status.attempts >= 2
    ctx = await actor.caller_context(tok, caller)
    assert ctx.profile is not None
    assert (ctx.profile.preferred_name, ctx.profile.total_calls) == ("Lena", 1)
    assert len(ctx.summaries) == 1
    assert {m.key for m in ctx.memories} >= {"spouse", "2020-subaru-outback"}


async def test_a_call_through_a_flapping_database_ends_cleanly(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, proxy: TcpProxy
) -> None:
    async with running_engine(via_proxy(pg_urls.app, proxy), jwt_secret, app_pool) as engine:
        tenant_id, number = await engine.new_tenant(agent_name="Rae")
        caller_number = phone()
        said = ("I need to add a driver to my policy.", "Her name is Mia.", "Thanks, bye.")
        engine.sim.add_script(
            caller_number,
            Script(
                transcripts=said,
                replies=tuple(Reply(text=t) for t in ("Sure.", "Got it.", "Goodbye.")),
            ),
        )
        steps = (
            WaitForAgent(timeout=15),
            Speak(said[0]),
            WaitForAgent(timeout=15),
            Speak(said[1]),
            WaitForAgent(timeout=15),
            Speak(said[2]),
            WaitForAgent(timeout=15),
            HangUp(),
        )

        async def flap() -> None:
            await asyncio.sleep(1.0)
            for _ in range(3):
                proxy.drop_all()
                proxy.stall()
                await asyncio.sleep(0.7)
                proxy.resume()
                await asyncio.sleep(0.7)

        flapping = asyncio.create_task(flap())
        result = await engine.caller().place_call(
            CallScript(from_number=caller_number, to_number=number, steps=steps), timeout=90
        )
        await flapping
        assert result.violations == []
        record = None
        turns = []
        for _ in range(200):  # the write-behind catches up once the link is back
            record = await calls.get_call(app_pool, tenant_id, result.call_sid)
            turns = await calls.load_turns(app_pool, tenant_id, result.call_sid)
            if record is not None and record.outcome and len(turns) >= 7:
                break
            await asyncio.sleep(0.05)
        assert record is not None
        assert record.outcome == "caller_hung_up"
        assert [t.seq for t in turns] == list(range(len(turns)))
        spoken = [t.text for t in turns if t.role == "caller"]
        assert spoken == list(said)
