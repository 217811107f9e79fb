"""The guard-rail on what the agent says, through whole calls (webhook, tenant and call actors,
the realtime and Twilio simulators, Postgres): a model that quotes a price is cut off at what the
caller heard, and the caller hears the engine's line offering a licensed agent instead; the cut
is a system turn and an audit entry. A well-behaved answer to "am I covered if..." passes
untouched."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from engine.sim.caller_result import CallResult
from engine.sim.realtime import SimSession
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Pause, Speak, WaitForAgent
from memory import audit, calls, tenants
from memory.call_records import Turn
from tests.call_outcome import engine_outcome
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine

CLAIMS = {"keyword": "claims", "number": "+15550001234", "description": "the claims team"}
ASK_PRICE = "How much more would it cost to add my son to my auto policy?"
QUOTE = "Sure, adding him is easy. Your premium will be $212 a month with him on the policy."
ASK_COVERED = "Am I covered if a tree falls on my car?"
DEFERS = (
    "I can't tell you whether you're covered, a licensed agent can. "
    "Would you like me to put you through?"
)


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


async def _call(engine: Engine, number: str, caller: str, ask: str, reply: str) -> CallResult:
    engine.sim.add_script(caller, Script(transcripts=(ask,), replies=(Reply(text=reply),)))
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(WaitForAgent(timeout=15), Speak(ask), WaitForAgent(timeout=30), Pause(1),
               HangUp()),
    )  # fmt: skip
    result = await engine.caller().place_call(script, timeout=60)
    assert result.violations == []
    return result


def _session(engine: Engine, caller: str) -> SimSession:
    return next(s for s in engine.sim.sessions if caller in s.instructions)


def _assistant_said(session: SimSession, starts: str) -> str:
    for item in session.items():
        if item.get("role") == "assistant" and item.get("content"):
            text = str(item["content"][0].get("transcript") or "")
            if text and starts.startswith(text[:10]):
                return text
    raise AssertionError(f"no answer starting {starts[:20]!r}")


def _first_delta_with(session: SimSession, words: str) -> float:
    said = ""
    for at, event in session.sent:
        if event["type"] == "response.output_audio_transcript.delta":
            said += event["delta"]
            if words in said:
                return at
    raise AssertionError(f"{words!r} was never sent")


async def _turns_and_audit(
    engine: Engine, tenant_id: str, call_sid: str
) -> tuple[list[Turn], list[audit.AuditEntry]]:
    await engine_outcome(engine.db, tenant_id, call_sid)
    turns = await calls.load_turns(engine.db, tenant_id, call_sid)
    entries = await audit.list_entries(engine.db, tenant_id, action="call.guardrail")
    return turns, [e for e in entries if e.target == call_sid]


async def test_a_quote_is_cut_and_the_caller_hears_the_offer_of_a_licensed_agent(
    engine: Engine,
) -> None:
    tenant_id, number = await engine.new_tenant(agent_name="Ava")
    await tenants.set_call_control(engine.db, tenant_id, transfer_rules=[CLAIMS])
    caller = "+15550410001"
    result = await _call(engine, number, caller, ASK_PRICE, QUOTE)

    session = _session(engine, caller)
    asked = [e for _, e in session.received if e["type"] == "response.create"]
    assert any(
        "licensed agent" in json.dumps(e) and "put you through" in json.dumps(e) for e in asked
    )
    assert any(e["type"] == "response.cancel" for _, e in session.received)
    heard = _assistant_said(session, QUOTE)  # the item as truncated: what the caller heard
    assert "212" not in heard
    assert len(heard) < len(QUOTE)
    line = _assistant_said(session, "I'm sorry, only a licensed agent")
    assert "licensed agent" in line

    # the caller heard the line: played audio after the agent's answer was cleared
    [stream] = result.streams
    cut_at = _first_delta_with(session, "Your premium will be $212")
    after = [seg for seg in stream.segments if stream.started_at + seg.start > cut_at]
    assert after, "nothing was heard after the cut"
    assert stream.clears
    assert stream.clears[-1] >= cut_at
    heard_line_ms = (stream.started_at + after[0].start - cut_at) * 1000
    cleared_ms = (stream.clears[-1] - cut_at) * 1000
    print(
        f"offending delta -> playback cleared {cleared_ms:.0f} ms, "
        f"line heard {heard_line_ms:.0f} ms"
    )
    assert sum(seg.bytes for seg in after) // 8 > 3000  # the line itself, several seconds of it

    turns, entries = await _turns_and_audit(engine, tenant_id, result.call_sid)
    assert any(t.role == "system" and "guard-rail" in t.text and "quote" in t.text for t in turns)
    assert any(t.role == "agent" and "licensed agent" in t.text for t in turns)
    [entry] = entries
    assert entry.changes == {"cuts": 1, "kinds": ["quote"]}
    assert entry.actor_email == "agent"


async def test_a_well_behaved_answer_about_coverage_passes_untouched(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant(agent_name="Ava")
    await tenants.set_call_control(engine.db, tenant_id, transfer_rules=[CLAIMS])
    caller = "+15550410002"
    result = await _call(engine, number, caller, ASK_COVERED, DEFERS)

    session = _session(engine, caller)
    received: list[dict[str, Any]] = [e for _, e in session.received]
    assert not any(e["type"] == "response.cancel" for e in received)
    assert not any("only a licensed agent can answer" in json.dumps(e) for e in received)
    assert _assistant_said(session, DEFERS) == DEFERS
    turns, entries = await _turns_and_audit(engine, tenant_id, result.call_sid)
    assert any(t.role == "agent" and t.text == DEFERS for t in turns)
    assert not any("guard-rail" in t.text for t in turns)
    assert entries == []
