"""A scripted Spanish call end to end: an agency that speaks Spanish greets with the offer, the
caller answers in Spanish (espeak-ng speech), the agent answers in Spanish, the caller says
goodbye, the end_call tool's goodbye is said in Spanish, and the call's row records "es"."""

from __future__ import annotations

import json
import wave
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from engine.audio import ulaw_decode
from engine.sim import spoken
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, Pause, Speak, WaitForAgent
from memory import agent_settings, calls
from memory.audit import Actor
from prompts import call_lines
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine

ASKED = "Hola, quiero cambiar la dirección de mi póliza."
ANSWER = "Claro, con gusto. ¿Cuál es la nueva dirección?"
DONE = "Eso es todo, muchas gracias."


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


def _wav(path: Path, text: str) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(ulaw_decode(spoken.speak(text, "es")).tobytes())
    return path


async def test_a_spanish_caller_is_answered_and_recorded_in_spanish(
    engine: Engine, tmp_path: Path
) -> None:
    tenant_id, number = await engine.new_tenant()
    await agent_settings.update_settings(
        engine.db, tenant_id, Actor(None), lambda s: replace(s, spanish=True)
    )
    caller = "+15550142041"
    engine.sim.add_script(
        caller,
        Script(
            transcripts=(ASKED, DONE),
            replies=(Reply(text=ANSWER), Reply(function="end_call")),
        ),
    )
    script = CallScript(
        from_number=caller,
        to_number=number,
        steps=(
            WaitForAgent(timeout=15),
            Speak("", wav=_wav(tmp_path / "asked.wav", ASKED)),
            WaitForAgent(timeout=15),
            Speak("", wav=_wav(tmp_path / "done.wav", DONE)),
            Pause(20),
        ),
    )
    result = await engine.caller().place_call(script, timeout=60)

    assert result.violations == []
    assert result.hung_up_via_rest
    session = engine.sim.sessions[0]
    creates = [
        json.dumps(e, ensure_ascii=False)
        for _, e in session.received
        if e["type"] == "response.create"
    ]
    assert call_lines.SPANISH_OFFER in creates[0]  # the greeting offers Spanish
    assert any("Gracias por llamar" in c for c in creates)  # end_call's goodbye, in Spanish
    assert not any("Thank you for calling" in c for c in creates)
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    agent = [t.text for t in turns if t.role == "agent"]
    assert ANSWER in agent
    assert "Gracias por llamar" in agent[-1]
    record = await calls.get_call(engine.db, tenant_id, result.call_sid)
    assert record is not None
    assert (record.outcome, record.language) == ("agent_hung_up", "es")
