"""A call while the agency's office is closed, through the simulators: the after-hours greeting,
an agent told why and when the office opens, no transfer (neither the tool nor the keypad's
transfer key), and a message taken instead, confirmed to the caller by text."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, Dtmf, Pause, Speak, WaitForAgent
from memory import calls, messages, tenant_admin, tenants
from memory.audit import SYSTEM
from memory.call_records import CallRecord
from tests.call_outcome import engine_outcome
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine

CLAIMS = {"keyword": "claims", "number": "+15550001234", "description": "the claims team"}
GREETING = "Thanks for calling, this is {agent_name}. Our office is closed right now."


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


async def closed_today(engine: Engine, tenant_id: str) -> None:
    """Hours every day, but today (and the days either side, whatever the clock says while the
    test runs) is a closure."""
    today = datetime.now(UTC).date()
    hours: dict[str, Any] = {
        day: [{"open": "00:00", "close": "23:59"}]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    }
    hours["closures"] = [
        {"date": (today + timedelta(days=d)).isoformat(), "reason": "Founders' Day"}
        for d in (-1, 0, 1)
    ]
    hours["after_hours_greeting"] = GREETING
    changed = await tenant_admin.update_tenant(
        engine.db,
        tenant_id,
        SYSTEM,
        lambda spec: replace(spec, time_zone="UTC", business_hours=hours),
    )
    assert changed is not None


async def outcome(engine: Engine, tenant_id: str, call_sid: str) -> CallRecord:
    return await engine_outcome(engine.db, tenant_id, call_sid)


async def test_after_hours_the_agent_takes_a_message_and_transfers_nobody(
    engine: Engine,
) -> None:
    tenant_id, number = await engine.new_tenant(agent_name="Quinn")
    await tenants.set_call_control(
        engine.db,
        tenant_id,
        transfer_rules=[CLAIMS],
        dtmf_actions={"0": {"action": "transfer", "target": "claims"}},
    )
    await closed_today(engine, tenant_id)
    caller = "+15550300001"
    engine.sim.add_script(
        caller,
        Script(
            transcripts=("Put me through to claims please.", "Yes, have them call me back."),
            replies=(
                # A model that tries anyway: the tool is not there to call.
                Reply(function="transfer_call", arguments='{"target": "claims"}'),
                Reply(
                    function="take_message",
                    arguments=json.dumps(
                        {
                            "reason": "claim",
                            "caller_name": "Sam",
                            "preferred_time": "tomorrow morning",
                            "text_confirmation": True,
                        }
                    ),
                ),
            ),
        ),
    )
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(
            WaitForAgent(timeout=15),
            Dtmf("0"),  # the transfer key does nothing after hours
            Speak("Put me through to claims please."),
            WaitForAgent(timeout=15),
            Speak("Yes, have them call me back."),
            WaitForAgent(timeout=15),
            Pause(1),
        ),
    )
    result = await engine.caller().place_call(script, timeout=90)

    assert result.violations == []
    assert result.transferred_to is None
    dials = [r for r in engine.rest.requests if "<Dial" in r.params.get("Twiml", "")]
    assert dials == []
    session = next(s for s in engine.sim.sessions if caller in s.instructions)
    offered = [t["name"] for t in session.session_config.get("tools") or []]
    assert "transfer_call" not in offered
    assert "take_message" in offered
    assert "The office is closed right now (Founders' Day)" in session.instructions
    opens = datetime.now(UTC).date() + timedelta(days=2)  # the day after the closures
    assert f"it opens again on {opens:%A, %B} {opens.day} at 12:00 AM" in session.instructions
    assert "tell the caller when the office opens" in session.instructions
    assert "do not offer or attempt a transfer" in session.instructions
    record = await outcome(engine, tenant_id, result.call_sid)
    assert record.outcome != "transferred"
    assert record.transferred_to is None
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    assert turns[0].role == "agent"
    assert "Our office is closed right now" in turns[0].text
    taken = [m for m in await messages.list_messages(engine.db, tenant_id) if m.call_sid]
    assert [(m.call_sid, m.caller_name) for m in taken] == [(result.call_sid, "Sam")]
    # The caller agreed to a text: it comes from the agency's number, through the outbox.
    for _ in range(200):
        if any(m["to"] == caller for m in engine.rest.messages):
            break
        await asyncio.sleep(0.05)
    (text,) = [m for m in engine.rest.messages if m["to"] == caller]
    assert text["from"] == number
    assert "we have your message" in text["body"]
    assert "tomorrow morning" in text["body"]
