"""AI disclosure heard, through whole calls (webhook, tenant and call actors, the realtime and
Twilio simulators, Postgres): a California agency must disclose the AI; a caller who cuts the
greeting off before its disclosure was heard hears the disclosure line after the agent's
answer, and one who hears the greeting out does not hear it twice."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import BargeIn, CallScript, HangUp, Pause, Speak, WaitForAgent
from memory import audit, calls, compliance
from memory.call_records import Turn
from prompts.disclosure import disclosure_line
from tests.call_outcome import engine_outcome
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine

ASK = "Hi, I need help with a claim."
ANSWER = "Sure, what's your claim number?"


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


async def _california_call(engine: Engine, caller: str, cut_in: bool) -> tuple[int, list[Turn]]:
    """(how many times the disclosure line alone was asked for, the call's turns)"""
    tenant_id, number = await engine.new_tenant(agent_name="Ava")
    await compliance.set_tenant_compliance(
        engine.db, tenant_id, compliance.TenantCompliance("CA", "jurisdiction"), actor=audit.SYSTEM
    )
    engine.sim.add_script(caller, Script(transcripts=(ASK,), replies=(Reply(text=ANSWER),)))
    first = BargeIn(after_ms=300, text=ASK) if cut_in else WaitForAgent(timeout=20)
    then = WaitForAgent(timeout=20) if cut_in else Speak(ASK)
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(first, then, WaitForAgent(timeout=20), Pause(1), HangUp()),
    )
    result = await engine.caller().place_call(script, timeout=90)
    assert result.violations == []
    session = next(s for s in engine.sim.sessions if caller in s.instructions)
    line = json.dumps(f'"{disclosure_line("Integration Agency")}"')[1:-1]
    asked = [
        e for _, e in session.received if e["type"] == "response.create" and line in json.dumps(e)
    ]
    await engine_outcome(engine.db, tenant_id, result.call_sid)
    return len(asked), await calls.load_turns(engine.db, tenant_id, result.call_sid)


async def test_a_greeting_cut_before_its_disclosure_is_followed_by_it(engine: Engine) -> None:
    asked, turns = await _california_call(engine, "+15550420001", cut_in=True)
    assert asked == 1
    assert any(t.role == "system" and "AI disclosure" in t.text for t in turns)
    assert any(t.role == "agent" and t.text == disclosure_line("Integration Agency") for t in turns)


async def test_a_greeting_heard_out_is_not_followed_by_it(engine: Engine) -> None:
    asked, turns = await _california_call(engine, "+15550420002", cut_in=False)
    assert asked == 0
    assert not any(t.role == "system" and "AI disclosure" in t.text for t in turns)
    assert "AI assistant" in turns[0].text  # the greeting disclosed, and was heard out
