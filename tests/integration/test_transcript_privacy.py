"""What the store keeps of a call's words, against real Postgres: new tenants have PII
redaction on, and it covers turns, messages, memories and summaries whichever path writes them;
a tenant in "no transcripts" mode keeps none of the caller's words (no turn text, no summary or
memory taken from the call) while the call itself, its outcome and its metrics are recorded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from engine.sim.openai_http import OpenAIHttpSimulator
from engine.sim.realtime_script import Reply, Script
from memory import agent_settings, caller_memory, calls, messages, profiles
from memory.audit import SYSTEM
from memory.call_records import CallEnd, CallStart, NewMessage, Turn
from memory.caller_records import CallFacts, MemoryWrite, NewMemory
from memory.db import tenant_tx
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, one_turn, running_engine
from tests.memory_support import SIM_KEY, UNDRAINED, memory_config, new_tenant, phone, sid, token

CARD = "4111 1111 1111 1111"
SSN = "123-45-6789"
SAID = (
    f"My card is {CARD}, my social security number is {SSN}, my date of birth is "
    "March 4, 1980 and my policy number is PA-2093177."
)
SECRETS = (CARD, SSN, "March 4, 1980", "PA-2093177")
NOW = datetime(2026, 12, 5, 5, 0, tzinfo=UTC)


async def _no_transcripts(pool: asyncpg.Pool, tenant_id: str) -> None:
    changed = await agent_settings.update_settings(
        pool, tenant_id, SYSTEM, lambda s: replace(s, keep_transcripts=False)
    )
    assert changed is not None
    assert not changed.keep_transcripts


_CONTENT_TABLES = (
    "SELECT * FROM call_turns",
    "SELECT * FROM messages",
    "SELECT * FROM memories",
    "SELECT * FROM call_summaries",
    "SELECT * FROM outbox",
)


async def _stored_text(pool: asyncpg.Pool, tenant_id: str) -> str:
    """Every column of every table row the tenant has that could hold a caller's words."""
    async with tenant_tx(pool, tenant_id) as conn:
        parts = [
            json.dumps([dict(r) for r in await conn.fetch(query)], default=str)
            for query in _CONTENT_TABLES
        ]
    return "\n".join(parts)


async def test_a_new_tenant_redacts_by_default(app_pool: asyncpg.Pool) -> None:
    tenant_id = await new_tenant(app_pool, "Default Privacy Agency")
    settings = await agent_settings.get_settings(app_pool, tenant_id)
    assert settings is not None
    assert settings.pii_redaction is True
    assert settings.keep_transcripts is True


async def test_redaction_covers_turns_messages_memories_and_summaries(
    app_pool: asyncpg.Pool,
) -> None:
    tenant_id = await new_tenant(app_pool, "Redacting Agency")
    caller, call = phone(), sid()
    await calls.start_call(
        app_pool, tenant_id, CallStart(call, caller, "+15550000000"), outbox_queue=UNDRAINED
    )
    await calls.append_turns(app_pool, tenant_id, call, [Turn(0, "caller", SAID, NOW)])
    await messages.take_message(
        app_pool, tenant_id, NewMessage(call, caller, f"Callback: {SAID}"), outbox_queue=UNDRAINED
    )
    write = MemoryWrite("policy", "details", {"said": SAID}, SAID)
    async with tenant_tx(app_pool, tenant_id) as conn:
        await caller_memory.upsert(conn, tenant_id, caller, call, [write], [None])
        await profiles.save_summary(
            conn,
            tenant_id,
            caller,
            CallFacts(call, NOW, 1000),
            summary=f"Caller said: {SAID}",
            key_topics=["billing"],
            key_variables={"card": CARD},
            sentiment="neutral",
            resolution_status="resolved",
            embedding=None,
        )
    stored = await _stored_text(app_pool, tenant_id)
    assert [s for s in SECRETS if s in stored] == []
    assert "[card number]" in stored
    assert "[SSN]" in stored
    assert "[date of birth]" in stored
    assert "[policy number]" in stored


async def test_no_transcripts_keeps_none_of_the_words_but_the_call_is_recorded(
    app_pool: asyncpg.Pool,
) -> None:
    tenant_id = await new_tenant(app_pool, "Forgetful Agency")
    await _no_transcripts(app_pool, tenant_id)
    caller, call = phone(), sid()
    await calls.start_call(
        app_pool, tenant_id, CallStart(call, caller, "+15550000000"), outbox_queue=UNDRAINED
    )
    await calls.append_turns(
        app_pool,
        tenant_id,
        call,
        [Turn(0, "caller", "My wife Maria drives a Civic", NOW), Turn(1, "agent", "Noted.", NOW)],
    )
    write = MemoryWrite("person", "spouse", "Maria", "Maria")
    async with tenant_tx(app_pool, tenant_id) as conn:
        assert await caller_memory.upsert(conn, tenant_id, caller, call, [write], [None]) == 0
        await profiles.save_summary(
            conn,
            tenant_id,
            caller,
            CallFacts(call, NOW, 1000),
            summary="Maria's Civic",
            key_topics=[],
            key_variables={},
            sentiment="neutral",
            resolution_status="resolved",
            embedding=None,
        )
        # what an admin enters by hand is not a call's words: it is kept
        admin = MemoryWrite("note", "prefers", "email", "email")
        assert await caller_memory.upsert(conn, tenant_id, caller, None, [admin], [None]) == 1
    await calls.finish_call(
        app_pool,
        tenant_id,
        call,
        CallEnd("caller_hung_up", duration_ms=900),
        outbox_queue=UNDRAINED,
    )
    turns = await calls.load_turns(app_pool, tenant_id, call)
    assert [(t.seq, t.role, t.text) for t in turns] == [(0, "caller", ""), (1, "agent", "")]
    stored = await _stored_text(app_pool, tenant_id)
    assert "Maria" not in stored
    assert "Civic" not in stored
    record = await calls.get_call(app_pool, tenant_id, call)
    assert record is not None
    assert record.outcome == "caller_hung_up"


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


async def test_a_no_transcripts_call_works_and_leaves_only_its_outcome_and_metrics(
    engine: Engine,
) -> None:
    tenant_id, number = await engine.new_tenant(agent_name="Ava")
    await _no_transcripts(engine.db, tenant_id)
    caller = phone()
    said = "Hi, I'm Dana Whitfield, my wife Maria and I drive a 2019 Honda Civic."
    engine.sim.add_script(
        caller, Script(transcripts=(said,), replies=(Reply(text="Thanks Dana, noted."),))
    )
    result = await engine.caller().place_call(one_turn(caller, number, said), timeout=60)
    assert result.violations == []
    assert result.first_audio_after_start_ms() is not None  # the call itself works
    setup = engine.pool.setups[-1]
    status = None
    for _ in range(200):
        status = await engine.pool.memory.post_call_status(setup.memory_token, result.call_sid)
        if status is not None and status.status == "done":
            break
        await asyncio.sleep(0.1)
    assert status is not None
    assert status.status == "done", status
    stored = await _stored_text(engine.db, tenant_id)
    for word in ("Dana", "Whitfield", "Maria", "Civic", "Thanks"):
        assert word not in stored, word
    async with tenant_tx(engine.db, tenant_id) as conn:
        texts = await conn.fetch(
            "SELECT role, text FROM call_turns WHERE call_sid = $1", result.call_sid
        )
        summaries = await conn.fetchval("SELECT count(*) FROM call_summaries")
        memories = await conn.fetchval("SELECT count(*) FROM memories")
        row = await conn.fetchrow("SELECT outcome, duration_ms, greeting_ms FROM calls")
    assert texts
    assert {r["text"] for r in texts} == {""}
    assert {r["role"] for r in texts} >= {"caller", "agent"}
    assert (summaries, memories) == (0, 0)
    assert row is not None
    assert row["outcome"]
    assert row["duration_ms"]
    assert row["greeting_ms"]


async def test_a_remembered_fact_is_embedded_as_it_is_stored_redacted(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool
) -> None:
    """The remember tool's value goes to the embedding provider redacted, as it is stored: a
    vector is not a way around the redaction."""
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as sim:
        actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim))
        try:
            tenant_id = await new_tenant(app_pool, "Embedding Agency")
            caller = phone()
            await actor.remember(
                token(jwt_secret, tenant_id),
                NewMemory(caller, sid(), "policy", "card", f"card {CARD}"),
            )
        finally:
            await actor.close()
    embedded = json.dumps([r.body for r in sim.requests if r.path.endswith("/embeddings")])
    assert "[card number]" in embedded
    assert CARD not in embedded
    stored = await _stored_text(app_pool, tenant_id)
    assert "[card number]" in stored
    assert CARD not in stored
