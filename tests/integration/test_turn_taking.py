"""Turn-taking on real speech, end to end: while the agent gives a long answer, the caller says
"uh-huh", "mm-hmm", "yeah", "okay", "sí" (espeak-ng) and coughs (a sox noise burst) - the agent
keeps talking through all of them - then says a real sentence, which stops it. Through the
signed webhook, the call actor, the realtime simulator's server VAD and the Twilio caller."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from engine.audio import ulaw_decode
from engine.sim import spoken
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import BargeIn, CallScript, HangUp, Speak, Step, WaitForAgent
from memory import calls
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine

ANSWER = " ".join(
    [
        "Certainly. Our auto policies cover collision, comprehensive, liability and uninsured",
        "motorists, and each of these has its own deductible that you can choose when you buy",
        "it. Collision pays for damage to your car after an accident with another vehicle or an",
        "object, whoever was at fault. Comprehensive covers theft, fire, hail, flooding and",
        "hitting an animal. Liability pays for the other driver's injuries and repairs when you",
        "are at fault, up to your limits, and uninsured motorist coverage protects you when the",
        "other driver has no insurance or not enough of it to pay for what they did.",
    ]
)
QUESTION = "What does my auto policy cover?"
SENTENCE = "Wait, I need to change the address on my policy."
BACKCHANNELS = (("uh-huh", "en"), ("mm-hmm", "en"), ("yeah", "en"), ("okay", "en"), ("sí", "es"))


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    # pace 1: the simulated model speaks in real time, so its response is still generating
    # while the caller talks over it (the case where only the engine can stop it)
    async with running_engine(
        pg_urls.app, jwt_secret, app_pool, pace=1.0, first_audio_delay_ms=300
    ) as running:
        yield running


def _wav(path: Path, ulaw: bytes) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(ulaw_decode(ulaw).tobytes())
    return path


async def test_backchannels_and_a_cough_leave_the_agent_talking_a_sentence_stops_it(
    engine: Engine, tmp_path: Path
) -> None:
    tenant_id, number = await engine.new_tenant()
    caller_number = "+15550142031"
    engine.sim.add_script(
        caller_number,
        Script(
            transcripts=(QUESTION, "Uh-huh.", "Mm-hmm.", "Yeah.", "Okay.", "Sí.", "", SENTENCE),
            replies=(Reply(text=ANSWER), Reply(text="Sure, what is the new address?")),
        ),
    )
    sounds = [
        _wav(tmp_path / f"b{i}.wav", spoken.speak(t, lang))
        for i, (t, lang) in enumerate(BACKCHANNELS)
    ]
    sounds.append(_wav(tmp_path / "cough.wav", spoken.cough()))
    steps: list[Step] = [WaitForAgent(timeout=15), Speak(QUESTION)]
    steps += [BargeIn(after_ms=700, text="", wav=path) for path in sounds]
    steps += [
        BargeIn(after_ms=700, text="", wav=_wav(tmp_path / "s.wav", spoken.speak(SENTENCE))),
        WaitForAgent(timeout=15),
        HangUp(),
    ]
    script = CallScript(from_number=caller_number, to_number=number, steps=tuple(steps))
    result = await engine.caller().place_call(script, timeout=120)

    assert result.violations == []
    stream = result.streams[0]
    assert len(stream.clears) == 1  # only the sentence stopped the agent
    session = engine.sim.sessions[0]
    sent = [event for _, event in session.received]
    detection = session.session_config["audio"]["input"]["turn_detection"]
    assert (detection["interrupt_response"], detection["create_response"]) == (False, False)
    assert [e["type"] for e in sent].count("response.cancel") == 1
    # greeting, the answer to the question, the answer to the sentence: no answer to a sound
    assert [e["type"] for e in sent].count("response.create") == 3
    truncates = [e for e in sent if e["type"] == "conversation.item.truncate"]
    assert len(truncates) == 1
    # the agent talked through the six sounds: more than 6 x 0.7 s of its answer was heard
    assert truncates[0]["audio_end_ms"] > 6 * 700

    # barge-in -> silence at the caller: from the sentence's first frame to Twilio's clear
    silence_ms = (stream.clears[0] - stream.utterances[-1]) * 1000
    assert silence_ms < 1500, silence_ms

    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    answers = [t for t in turns if t.role == "agent" and "model_ms" in t.meta]
    assert answers  # the answers' latency, broken down
    for turn in answers:
        assert turn.meta["model_ms"] <= turn.meta["sent_ms"]  # type: ignore[operator]
    report = await engine.pool.report_for(result.call_sid)
    assert report.barge_ins == 1
