"""A scripted call that looks something up in the agency's knowledge base, through the
simulators: `search_knowledge` is offered when switched on, finds the agency's own entry, and
the transcript keeps the lookup and the titles of the entries the answer came from."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Speak, WaitForAgent
from memory import calls
from memory.db import tenant_tx
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine
from tests.memory_support import token

ASK = "Do you cover windshield claims?"
ANSWER = "Yes: our Glass claims entry says windshield claims go to Safelite."


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


async def test_a_knowledge_lookup_is_cited_in_the_transcript(
    engine: Engine, jwt_secret: str
) -> None:
    tenant_id, number = await engine.new_tenant()
    async with tenant_tx(engine.db, tenant_id) as conn:
        await conn.execute(
            "UPDATE agent_configs SET tools = tools || '[\"search_knowledge\"]'::jsonb"
            " WHERE tenant_id = $1::uuid",
            tenant_id,
        )
    memory = engine.pool.memory
    tok = token(jwt_secret, tenant_id)
    await memory.save_knowledge(tok, "procedure", "Glass claims", "Windshield claims: Safelite.")
    await memory.save_knowledge(tok, "fact", "Office hours", "Open Monday to Friday 9 to 5.")
    caller = "+15550500001"
    engine.sim.add_script(
        caller,
        Script(
            transcripts=(ASK,),
            replies=(
                Reply(function="search_knowledge", arguments='{"query": "windshield claims"}'),
                Reply(text=ANSWER),
            ),
        ),
    )
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(
            WaitForAgent(timeout=15),
            Speak(ASK),
            WaitForAgent(timeout=15, quiet_ms=1500),
            HangUp(),
        ),
    )
    result = await engine.caller().place_call(script, timeout=90)

    assert result.violations == []
    session = next(s for s in engine.sim.sessions if caller in s.instructions)
    assert "search_knowledge" in [t["name"] for t in session.session_config.get("tools") or []]
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    lookups = [t for t in turns if t.role == "tool" and t.meta.get("name") == "search_knowledge"]
    asked, answered = lookups
    assert asked.text == 'search_knowledge({"query": "windshield claims"})'
    found = json.loads(answered.text)
    assert found["results"][0]["title"] == "Glass claims"  # the entry the answer came from
    assert "Safelite" in found["results"][0]["text"]
    agent = [t.text for t in turns if t.role == "agent"]
    assert ANSWER in agent
    assert turns.index(answered) < next(i for i, t in enumerate(turns) if t.text == ANSWER)
