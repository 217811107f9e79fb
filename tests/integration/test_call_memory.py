"""Caller memory through real calls: what a caller says in one call (name, spouse, vehicle,
claim) is in the next call's context after the post-call job, and the greeting uses the name.
Never an earlier call's turns: the second session gets facts, not a replayed conversation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from engine.sim.realtime_script import Reply, Script
from memory import calls
from memory.audit import SYSTEM
from memory.verification import set_identifiers
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, one_turn, running_engine

PROOF = "My date of birth is March 4th 1980 and my ZIP code is 94110."
STATED = {"date_of_birth": "March 4th 1980", "zip_code": "94110"}
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

    # The second call comes from the same number, which proves nothing: only the first name
    # reaches the model until the caller states the identifiers the agency has on file.
    await set_identifiers(
        engine.db,
        tenant_id,
        caller,
        {"date_of_birth": "1980-03-04", "zip_code": "94110"},
        actor=SYSTEM,
    )
    engine.sim.add_script(
        caller,
        Script(
            transcripts=(PROOF,),
            replies=(
                Reply(function="verify_caller", arguments=json.dumps(STATED)),
                Reply(text="Thank you, Dana. How is the claim going?"),
            ),
        ),
    )
    second = await engine.caller().place_call(one_turn(caller, number, PROOF), timeout=60)
    session = [s for s in engine.sim.sessions if caller in s.instructions][-1]
    first_update = next(e for _, e in session.received if e["type"] == "session.update")
    for fact in ("Maria", "Honda Civic", "44718"):
        assert fact not in first_update["session"]["instructions"], fact
    assert "Dana" in first_update["session"]["instructions"]
    for fact in ("Dana", "Maria", "Honda Civic", "44718"):
        assert fact in session.instructions, fact  # after verify_caller succeeded
    assert FIRST not in session.instructions  # facts, never the earlier call's turns
    turns = await calls.load_turns(engine.db, tenant_id, second.call_sid)
    assert turns[0].role == "agent"
    assert turns[0].text == "Hi, this is Ava. Is this Dana?"
    # What verification adds to the call: the caller's statement, the tool's turn, and the
    # engine's check (measured; printed for the record)
    report = await engine.pool.report_for(second.call_sid)
    [check] = [t for t in report.tool_ms if t.tool == "verify_caller"]
    assert check.status == "ok"
    tool_turns = [t for t in turns if t.role == "tool"]
    assert tool_turns[0].text == "verify_caller(date_of_birth, zip_code)"  # never the values
    assert not any("March 4th 1980" in t.text for t in turns)
    print(
        f"verification: {len(turns)} turns ({len(tool_turns)} tool), verify_caller "
        f"{check.sum_ms / sum(check.counts):.1f} ms, caller stop -> answer sent {report.turn_ms} ms"
    )
