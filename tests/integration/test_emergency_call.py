"""The emergency guard-rail through whole calls (webhook, tenant and call actors, the realtime
and Twilio REST simulators, Postgres): a caller who says someone is hurt hears the engine tell
them to hang up and dial 911, then - when the agency has an emergency line - is transferred
there through the REST API once that was heard; with no such line, or while the office is
closed, nothing more. Each is in the call's record and the audit log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from engine.sim.caller_result import CallResult
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Pause, Speak, WaitForAgent
from memory import audit, calls, tenants
from memory.call_records import CallRecord
from tests.call_outcome import engine_outcome
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine
from tests.integration.test_after_hours_call import closed_today

HURT = "There's been a crash on the highway, someone's hurt."
EMERGENCY_LINE = {
    "keyword": "emergency",
    "number": "+15550009111",
    "description": "the agency's emergency line",
}
CLAIMS = {"keyword": "claims", "number": "+15550001234", "description": "the claims team"}


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


async def _record(engine: Engine, tenant_id: str, call_sid: str) -> CallRecord:
    return await engine_outcome(engine.db, tenant_id, call_sid)


async def _emergency_call(engine: Engine, number: str, caller: str) -> CallResult:
    # the model would go on about the claim: the engine's line comes first whatever it says
    engine.sim.add_script(
        caller, Script(transcripts=(HURT,), replies=(Reply(text="Let me open a claim for you."),))
    )
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(WaitForAgent(timeout=15), Speak(HURT), WaitForAgent(timeout=15), Pause(8),
               HangUp()),
    )  # fmt: skip
    result = await engine.caller().place_call(script, timeout=60)
    assert result.violations == []
    return result


def _dials(engine: Engine, call_sid: str) -> list[str]:
    return [
        r.params["Twiml"]
        for r in engine.rest.requests
        if r.method == "POST" and call_sid in r.path and "<Dial" in r.params.get("Twiml", "")
    ]


async def _audited(engine: Engine, tenant_id: str, call_sid: str) -> list[audit.AuditEntry]:
    entries = await audit.list_entries(engine.db, tenant_id, action="call.emergency")
    return [e for e in entries if e.target == call_sid]


async def test_an_emergency_is_told_911_then_transferred_to_the_emergency_line(
    engine: Engine,
) -> None:
    tenant_id, number = await engine.new_tenant(agent_name="Ava")
    await tenants.set_call_control(engine.db, tenant_id, transfer_rules=[CLAIMS, EMERGENCY_LINE])
    result = await _emergency_call(engine, number, "+15550400001")

    assert result.transferred_to == EMERGENCY_LINE["number"]
    [dial] = _dials(engine, result.call_sid)  # the calls update, through the transfer path
    assert EMERGENCY_LINE["number"] in dial
    assert CLAIMS["number"] not in dial
    session = next(s for s in engine.sim.sessions if "+15550400001" in s.instructions)
    asked = [json.dumps(e) for _, e in session.received if e["type"] == "response.create"]
    assert any("call 9 1 1" in a and "put you through" in a for a in asked)
    record = await _record(engine, tenant_id, result.call_sid)
    assert (record.outcome, record.transferred_to) == ("transferred", EMERGENCY_LINE["number"])
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    assert any(t.role == "system" and "emergency line" in t.text for t in turns)
    assert any(t.role == "agent" and "call 9 1 1" in t.text for t in turns)
    [entry] = await _audited(engine, tenant_id, result.call_sid)
    assert entry.changes == {"outcome": "transferred", "transferred": True}
    assert entry.actor_email == "agent"


async def test_without_an_emergency_line_the_caller_is_told_911_and_not_transferred(
    engine: Engine,
) -> None:
    tenant_id, number = await engine.new_tenant(agent_name="Ava")
    await tenants.set_call_control(engine.db, tenant_id, transfer_rules=[CLAIMS])
    result = await _emergency_call(engine, number, "+15550400002")

    assert result.transferred_to is None
    assert _dials(engine, result.call_sid) == []
    record = await _record(engine, tenant_id, result.call_sid)
    assert record.outcome == "caller_hung_up"
    assert record.transferred_to is None
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    assert any(
        t.role == "system" and t.text == "emergency: told to hang up and dial 911" for t in turns
    )
    assert any(t.role == "agent" and "call 9 1 1" in t.text for t in turns)
    assert not any("put you through" in t.text for t in turns)
    [entry] = await _audited(engine, tenant_id, result.call_sid)
    assert entry.changes == {"outcome": "caller_hung_up", "transferred": False}


async def test_after_hours_an_emergency_is_told_911_and_nobody_is_dialled(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant(agent_name="Ava")
    await tenants.set_call_control(engine.db, tenant_id, transfer_rules=[EMERGENCY_LINE])
    await closed_today(engine, tenant_id)
    result = await _emergency_call(engine, number, "+15550400003")

    assert result.transferred_to is None
    assert _dials(engine, result.call_sid) == []
    record = await _record(engine, tenant_id, result.call_sid)
    assert record.outcome == "caller_hung_up"
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    assert "Our office is closed right now" in turns[0].text
    assert any(t.role == "agent" and "call 9 1 1" in t.text for t in turns)
    [entry] = await _audited(engine, tenant_id, result.call_sid)
    assert entry.changes["transferred"] is False
