"""Caller memory through real calls: what a caller says in one call (name, spouse, vehicle,
claim) is in the next call's context after the post-call job, and the greeting uses the name.
Never an earlier call's turns: the second session gets facts, not a replayed conversation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, WaitForAgent
from memory import calls
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, one_turn, running_engine

FIRST = (
    "Hi, my name is Dana Whitfield. My wife Maria and I drive a 2019 Honda Civic, "
    "and I'm calling about claim number 44718."
)


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


async def test_second_call_knows_what_the_first_call_said(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant(agent_name="Ava")
    caller = "+15550300001"
    engine.sim.add_script(
        caller, Script(transcripts=(FIRST,), replies=(Reply(text="Thanks Dana, I see it."),))
    )
    first = await engine.caller().place_call(one_turn(caller, number, FIRST), timeout=60)
    first_session = engine.sim.sessions[-1]
    assert "Dana" not in first_session.instructions  # nothing known yet
    setup = engine.pool.setups[-1]
    status = None
    for _ in range(200):  # the post-call job: summary, profile, memories, embeddings
        status = await engine.pool.memory.post_call_status(setup.memory_token, first.call_sid)
        if status is not None and status.status == "done":
            break
        await asyncio.sleep(0.1)
    assert status is not None
    assert status.status == "done", status

    engine.sim.add_script(caller, Script(transcripts=(), replies=()))
    second = await engine.caller().place_call(
        CallScript(
            from_number=caller, to_number=number, steps=(WaitForAgent(timeout=15), HangUp())
        ),
        timeout=60,
    )
    session = [s for s in engine.sim.sessions if caller in s.instructions][-1]
    for fact in ("Dana", "Maria", "Honda Civic", "44718"):
        assert fact in session.instructions, fact
    assert FIRST not in session.instructions  # facts, never the earlier call's turns
    turns = await calls.load_turns(engine.db, tenant_id, second.call_sid)
    assert turns[0].role == "agent"
    assert turns[0].text == "Hi, this is Ava. Is this Dana?"
