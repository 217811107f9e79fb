"""Caller memory end to end at the MemoryActor: a scripted call, its post-call job (real
`openai` SDK against the shipped HTTP simulator, real Postgres), and what the next call's
context knows; keyed upserts with history; consolidation stored once; forgetting a caller."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from actors.memory_actor import WARM_CONNECTIONS, MemoryActor
from engine.sim.openai_http import OpenAIHttpSimulator
from memory import caller_memory, knowledge
from memory.caller_records import NewMemory
from prompts.context import pack_context
from prompts.greeting import choose_greeting
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

FIRST_CALL = [
    ("agent", "Good morning! This is Ava. How can I help you?"),
    ("caller", "Hi, my name is Dana Whitfield, but please call me Dee."),
    ("agent", "Nice to meet you, Dee. What can I do for you?"),
    ("caller", "My wife Sarah was driving our 2019 Honda Civic when the hail storm hit."),
    ("caller", "We already have a claim, the claim number is CLM-48213 and it is open."),
    ("agent", "I see it. I'll send you the adjuster's report by Friday."),
    ("caller", "Thanks, that's great. Bye."),
]
SECOND_CALL = [
    ("agent", "Hi, this is Ava. Is this Dee?"),
    ("caller", "Yes. My wife Sarah says thank you for the help last time."),
    ("caller", "Good news, claim number CLM-48213 was paid yesterday."),
    ("caller", "I prefer email from now on. Thanks, bye."),
]
AGENDA = "Help callers with their family, vehicles, policies and insurance claims."


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


@pytest.fixture
async def actor(
    pg_urls: PgUrls, jwt_secret: str, sim: OpenAIHttpSimulator
) -> AsyncIterator[MemoryActor]:
    memory = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim))
    yield memory
    await memory.close()


async def test_warm_up_leaves_connections_open_with_the_context_queries_prepared(
    actor: MemoryActor,
) -> None:
    await actor.warm_up([AGENDA])
    pool = (await actor._memory()).pool
    held = [await pool.acquire() for _ in range(pool.get_size())]
    try:  # a first call's lookup on these opens nothing and prepares nothing
        prepared = [
            await conn.fetchval(
                "SELECT count(*) FROM pg_prepared_statements"
                " WHERE statement LIKE '%FROM caller_profiles%'"
                " AND statement NOT LIKE '%pg_prepared_statements%'"
            )
            for conn in held
        ]
        assert prepared.count(1) >= WARM_CONNECTIONS
    finally:
        for conn in held:
            await pool.release(conn)


async def test_the_second_call_knows_what_the_first_taught(
    actor: MemoryActor, app_pool: asyncpg.Pool, jwt_secret: str, sim: OpenAIHttpSimulator
) -> None:
    tenant = await new_tenant(app_pool)
    tok = token(jwt_secret, tenant)
    caller = phone()
    fresh = await actor.caller_context(tok, caller, agenda=AGENDA)
    assert fresh.profile is None
    assert fresh.memories == ()

    first = await record_call(actor, tok, caller, FIRST_CALL)
    await actor.enqueue_post_call(tok, first, caller)
    await actor.enqueue_post_call(tok, first, caller)  # a retried end-of-call: one job
    done = await wait_job(actor, tok, first)
    assert (done.status, done.attempts) == ("done", 1)
    assert sim.count("/v1/chat/completions") == 1

    ctx = await actor.caller_context(tok, caller, agenda=AGENDA, k=10)
    assert ctx.profile is not None
    assert ctx.profile.preferred_name == "Dee"
    assert ctx.profile.total_calls == 1
    assert ctx.profile.first_call_at == ctx.profile.last_call_at
    remembered = {(m.type, m.key): m.value for m in ctx.memories}
    assert remembered[("person", "spouse")] == "Sarah, their wife"
    assert remembered[("vehicle", "2019-honda-civic")] == "2019 Honda Civic"
    assert "CLM-48213" in remembered[("claim", "number:clm-48213")]
    assert "open" in remembered[("claim", "number:clm-48213")]
    assert all(-1 <= m.score <= 1 for m in ctx.memories)
    (summary,) = ctx.summaries
    assert "CLM-48213" in summary.summary
    assert summary.resolution == "follow_up_needed"
    assert ctx.personality["satisfaction"] > 50

    now = datetime.now(UTC)
    packed = pack_context(ctx, now=now)
    for needle in ("Their name is Dee.", "Sarah", "2019 Honda Civic", "CLM-48213"):
        assert needle in packed
    greeting = choose_greeting(
        new_caller_template="{time_greeting}! This is {agent_name}. How can I help you?",
        returning_template="Hi, this is {agent_name}. Is this {user_name}?",
        user_name=ctx.profile.preferred_name,
        agent_name="Ava",
        now=now,
        time_zone="America/New_York",
    )
    assert greeting == "Hi, this is Ava. Is this Dee?"

    # The same facts said again: one memory each; the changed claim keeps its old value.
    second = await record_call(actor, tok, caller, SECOND_CALL)
    await actor.enqueue_post_call(tok, second, caller)
    await wait_job(actor, tok, second)
    stored = await caller_memory.list_memories(app_pool, tenant, caller)
    keys = [(m.type, m.key) for m in stored]
    assert len(keys) == len(set(keys))
    by_key = {(m.type, m.key): m for m in stored}
    spouse = by_key[("person", "spouse")]
    assert (spouse.version, spouse.source_call_sid) == (1, first)
    claim = by_key[("claim", "number:clm-48213")]
    assert claim.version == 2
    assert claim.source_call_sid == second
    assert "paid" in claim.content
    (old,) = await caller_memory.history(app_pool, tenant, caller, "claim", "number:clm-48213")
    assert "open" in old.content
    assert old.source_call_sid == first
    assert await caller_memory.history(app_pool, tenant, caller, "person", "spouse") == []

    again = await actor.caller_context(tok, caller, agenda=AGENDA)
    assert again.profile is not None
    assert again.profile.total_calls == 2
    assert again.profile.last_call_at is not None
    assert again.profile.first_call_at is not None
    assert again.profile.last_call_at > again.profile.first_call_at
    assert again.summaries[0].summary.count("CLM-48213") == 1
    assert len(again.summaries) == 2
    assert again.summaries[0].at > again.summaries[1].at  # newest first
    prefs = await count(
        app_pool,
        tenant,
        "SELECT count(*) FROM caller_profiles WHERE preferences ? 'contact' AND caller_number = $1",
        caller,
    )
    assert prefs == 1


async def test_remember_upserts_by_key_and_keeps_history(
    actor: MemoryActor, app_pool: asyncpg.Pool, jwt_secret: str
) -> None:
    tenant = await new_tenant(app_pool)
    tok = token(jwt_secret, tenant)
    caller = phone()
    call_sid = sid()
    await actor.remember(tok, NewMemory(caller, call_sid, "preference", "contact", "text messages"))
    await actor.remember(
        tok, NewMemory(caller, call_sid, "preference", "contact", "text  messages")
    )
    (same,) = await caller_memory.list_memories(app_pool, tenant, caller)
    assert (same.version, same.value, same.has_embedding) == (1, "text messages", True)
    await actor.remember(tok, NewMemory(caller, sid(), "preference", "contact", "email only"))
    (changed,) = await caller_memory.list_memories(app_pool, tenant, caller)
    assert (changed.version, changed.value) == (2, "email only")
    history = await caller_memory.history(app_pool, tenant, caller, "preference", "contact")
    assert [(h.version, h.value, h.source_call_sid) for h in history] == [
        (1, "text messages", call_sid)
    ]

    await actor.remember(
        tok, NewMemory(caller, call_sid, "identity", "preferred_name", {"name": "Bobby"})
    )
    ctx = await actor.caller_context(tok, caller)
    assert ctx.profile is not None
    assert ctx.profile.preferred_name == "Bobby"
    assert ctx.profile.total_calls == 0

    await actor.remember(tok, NewMemory(caller, call_sid, "note", "gate code", "4512", ttl_days=1))
    assert any(m.key == "gate code" for m in (await actor.caller_context(tok, caller)).memories)
    async with app_pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant)
        await conn.execute(
            "UPDATE memories SET expires_at = now() - interval '1 second' WHERE key = 'gate code'"
        )
    assert all(m.key != "gate code" for m in (await actor.caller_context(tok, caller)).memories)

    with pytest.raises(ValueError, match="memory_type"):
        await actor.remember(tok, NewMemory(caller, call_sid, "Bad Type", "k", "v"))
    with pytest.raises(ValueError, match="value"):
        await actor.remember(tok, NewMemory(caller, call_sid, "note", "k", "   "))


async def test_consolidating_200_turns_stores_each_item_once(
    actor: MemoryActor, app_pool: asyncpg.Pool, jwt_secret: str, sim: OpenAIHttpSimulator
) -> None:
    tenant = await new_tenant(app_pool)
    tok = token(jwt_secret, tenant)
    caller = phone()
    call_sid = sid()
    facts = [
        ("caller", "My wife Sarah is worried about the premium."),
        ("caller", "We drive a 2019 Honda Civic and a 2022 Ford Maverick."),
        ("caller", "Please remember that my gate code is 4512."),
        ("caller", "The policy number is PA-99812 for the auto policy."),
    ]
    lines: list[tuple[str, str]] = []
    rng = random.Random(4)
    for i in range(200):
        if i % 10 == 3:
            lines.append(facts[rng.randrange(len(facts))])  # each fact several times
        else:
            lines.append(("agent" if i % 2 else "caller", f"small talk number {i}"))
    turns = script(lines)
    stored = await actor.consolidate(tok, caller, call_sid, turns)
    # spouse, two vehicles, the gate code, the policy: five distinct items.
    assert stored == 5
    shuffled = turns[:]
    rng.shuffle(shuffled)
    assert await actor.consolidate(tok, caller, call_sid, shuffled) == 5
    assert sim.count("/v1/chat/completions") == 1  # the retry did not ask the model again
    memories = await caller_memory.list_memories(app_pool, tenant, caller)
    assert sorted(m.type for m in memories) == ["fact", "person", "policy", "vehicle", "vehicle"]
    assert all(m.version == 1 for m in memories)
    # The next slice mentions the same spouse: still one memory.
    later = script([("caller", "My wife Sarah says hi.")], start=200)
    assert await actor.consolidate(tok, caller, call_sid, later) == 1
    assert len(await caller_memory.list_memories(app_pool, tenant, caller)) == 5


async def test_knowledge_and_search(
    actor: MemoryActor, app_pool: asyncpg.Pool, jwt_secret: str
) -> None:
    tenant = await new_tenant(app_pool)
    tok = token(jwt_secret, tenant)
    caller = phone()
    await actor.save_knowledge(
        tok, "procedure", "Hail claims", "Hail damage claims need photos of the roof and the car."
    )
    await actor.save_knowledge(tok, "rule", "Office hours", "The office is open 9 to 5 weekdays.")
    entries = await knowledge.list_entries(app_pool, tenant)
    assert [e.title for e in entries] == ["Hail claims", "Office hours"]  # by kind, title
    await actor.remember(
        tok, NewMemory(caller, sid(), "vehicle", "2019-honda-civic", "2019 Honda Civic")
    )
    await actor.remember(tok, NewMemory(caller, sid(), "person", "spouse", "Sarah, their wife"))

    ctx = await actor.caller_context(tok, caller, agenda="hail damage claims and photos")
    assert [k.title for k in ctx.knowledge] == ["Hail claims"]
    hits = await actor.search(tok, caller, "Honda Civic car", k=3)
    assert hits[0].source == "memory"
    assert hits[0].ref == "vehicle:2019-honda-civic"
    tenant_wide = await actor.search(tok, None, "office open weekdays", k=2)
    assert tenant_wide[0].source == "knowledge"
    assert "9 to 5" in tenant_wide[0].text


async def test_forgetting_a_caller_removes_everything_of_theirs(
    actor: MemoryActor, app_pool: asyncpg.Pool, jwt_secret: str
) -> None:
    tenant = await new_tenant(app_pool)
    tok = token(jwt_secret, tenant)
    caller, other = phone(), phone()
    for number in (caller, other):
        call_sid = await record_call(actor, tok, number, FIRST_CALL)
        await actor.enqueue_post_call(tok, call_sid, number)
        await wait_job(actor, tok, call_sid)
        await actor.remember(tok, NewMemory(number, call_sid, "note", "gate code", "4512"))
    await actor.forget_caller(tok, caller)
    await actor.forget_caller(tok, caller)  # idempotent

    tables = (
        "caller_profiles",
        "memories",
        "call_summaries",
        "personality_metrics",
        "personality_averages",
        "post_call_jobs",
    )
    for table in tables:
        sql = f"SELECT count(*) FROM {table} WHERE caller_number = $1"  # noqa: S608 - fixed names
        assert await count(app_pool, tenant, sql, caller) == 0, table
        assert await count(app_pool, tenant, sql, other) >= 1, table
    assert await count(app_pool, tenant, "SELECT count(*) FROM memory_history") == 0
    theirs = "SELECT count(*) FROM calls WHERE from_number = $1"
    assert await count(app_pool, tenant, theirs, caller) == 0
    assert await count(app_pool, tenant, theirs, other) == 1
    turns = "SELECT count(*) FROM call_turns t JOIN calls c USING (tenant_id, call_sid) WHERE {}"
    assert await count(app_pool, tenant, turns.format("c.from_number = 'forgotten'")) == 0
    assert await count(app_pool, tenant, turns.format("c.from_number = $1"), other) > 0
    ctx = await actor.caller_context(tok, caller, agenda=AGENDA)
    assert (ctx.profile, ctx.memories, ctx.summaries) == (None, (), ())


async def test_anonymous_callers_share_no_memory(
    actor: MemoryActor, app_pool: asyncpg.Pool, jwt_secret: str
) -> None:
    tenant = await new_tenant(app_pool)
    tok = token(jwt_secret, tenant)
    await actor.save_knowledge(tok, "rule", "Hail claims", "Hail claims need photos.")
    for number in ("+266696687", "Anonymous"):
        call_sid = await record_call(actor, tok, number, FIRST_CALL)
        await actor.remember(
            tok, NewMemory(number, call_sid, "person", "spouse", "Sarah, their wife")
        )
        await actor.enqueue_post_call(tok, call_sid, number)
        assert await actor.post_call_status(tok, call_sid) is None
        ctx = await actor.caller_context(tok, number, agenda="hail claims photos")
        assert (ctx.profile, ctx.memories, ctx.summaries) == (None, (), ())
        assert [k.title for k in ctx.knowledge] == ["Hail claims"]
    assert await count(app_pool, tenant, "SELECT count(*) FROM memories") == 0


async def test_a_slow_or_failing_embedder_never_holds_a_caller_context(
    actor: MemoryActor, app_pool: asyncpg.Pool, jwt_secret: str, sim: OpenAIHttpSimulator
) -> None:
    """The agenda's vector is waited for briefly; a provider that hangs or fails gives a
    context ranked without it, and after a failure the next calls do not wait at all."""
    tenant = await new_tenant(app_pool)
    tok = token(jwt_secret, tenant)
    await actor.caller_context(tok, phone(), agenda="")  # the service is up
    sim.latency_s = 2.0
    began = time.perf_counter()
    slow = await actor.caller_context(tok, phone(), agenda="flood cover for basements")
    assert time.perf_counter() - began < 1.0
    assert slow.knowledge == ()
    sim.latency_s = 0.0
    sim.fail_next(400, times=1)  # not retried by the SDK: the provider has failed
    await actor.caller_context(tok, phone(), agenda="roof repairs after hail")
    for _ in range(50):  # let the background embedding finish (it failed)
        await asyncio.sleep(0.02)
    asked = len(sim.requests)
    began = time.perf_counter()
    await actor.caller_context(tok, phone(), agenda="roof repairs after hail")
    assert time.perf_counter() - began < 0.1
    assert len(sim.requests) == asked  # cooling down: not asked again
