"""Calls spoken by an ElevenLabs voice, end to end: the realtime simulator answers in text, the
ElevenLabs simulator speaks it (a context per answer on one multi-stream-input socket, ulaw_8000,
character timings), the caller hears
it through the call actor. Barge-in cuts the model's answer to the words heard; a dropped
ElevenLabs socket continues without repeating a word; a refused key falls back to the model's
own voice for the rest of the call and says so in the call's record."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from actors.tts_voice import forget_greetings
from engine.config import ElevenLabsVoice
from engine.secret_box import ELEVENLABS_LABEL, SecretBox
from engine.sim.elevenlabs import ElevenLabsSimulator
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import BargeIn, CallScript, HangUp, Speak, WaitForAgent
from memory import calls, tenants
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine

KEY = "integration-xi-key"
VOICE = ElevenLabsVoice(voice_id="21m00Tcm4TlvDq8ikWAM")
CONNECT_S = 0.2  # TwiML -> media socket
QUESTION = "When does my policy renew?"
ANSWER = "Your policy renews on the first of June, and the premium stays the same as last year."
LONG = " ".join(
    [
        "Certainly. Our auto policies cover collision, comprehensive, liability and uninsured",
        "motorists, and each of these has its own deductible that you can choose when you buy",
        "it. Collision pays for damage to your car after an accident with another vehicle or an",
        "object, whoever was at fault. Comprehensive covers theft, fire, hail and flooding.",
    ]
)
SENTENCE = "Wait, I need to change the address on my policy."


@pytest.fixture
async def voices() -> AsyncIterator[ElevenLabsSimulator]:
    forget_greetings()  # each test synthesises its greetings afresh
    async with ElevenLabsSimulator(api_keys={KEY}, first_chunk_ms=150, pace=1.5) as sim:
        yield sim


@pytest.fixture
async def engine(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, voices: ElevenLabsSimulator
) -> AsyncIterator[Engine]:
    async with running_engine(
        pg_urls.app,
        jwt_secret,
        app_pool,
        elevenlabs=(voices.base_url, KEY),
        pace=1.0,
        first_audio_delay_ms=300,
    ) as running:
        yield running


async def _tenant(engine: Engine) -> tuple[str, str]:
    tenant_id, number = await engine.new_tenant()
    assert await tenants.set_elevenlabs_voice(engine.db, tenant_id, VOICE)
    return tenant_id, number


def _words(text: str) -> list[str]:
    return [w.strip(".,!?").lower() for w in text.split()]


def _heard_words(text: str) -> list[str]:
    """Words as heard: a word cut off by a dropped socket and said again whole counts once."""
    words = _words(text)
    return [
        w
        for w, after in zip(words, [*words[1:], ""], strict=True)
        if not (after != w and after.startswith(w))
    ]


async def test_an_elevenlabs_voice_answers_in_ulaw_with_marks(
    engine: Engine, voices: ElevenLabsSimulator
) -> None:
    tenant_id, number = await _tenant(engine)
    caller_number = "+15550142101"
    engine.sim.add_script(caller_number, Script(transcripts=(QUESTION,), replies=(Reply(ANSWER),)))
    script = CallScript(
        from_number=caller_number,
        to_number=number,
        steps=(WaitForAgent(timeout=15), Speak(QUESTION), WaitForAgent(timeout=15), HangUp()),
    )
    result = await engine.caller().place_call(script, timeout=60)

    assert result.violations == []
    session = engine.sim.sessions[0]
    assert session.session_config["output_modalities"] == ["text"]
    # greeting and answer, each in a context of its own on the call's one socket, both in
    # Twilio's format
    spoken = [s for s in voices.streams if s.spoken_text]
    assert len(spoken) == 2
    assert voices.handshakes == 1
    assert all(s.context_id for s in spoken)
    assert {s.query["output_format"] for s in spoken} == {"ulaw_8000"}
    assert _words(spoken[1].spoken_text) == _words(ANSWER)
    assert result.heard_ms > 3000
    stream = result.streams[0]
    assert len(stream.marks_sent_back) > 4  # a mark after every chunk, returned as played
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    answers = [t for t in turns if t.role == "agent" and "sent_ms" in t.meta]
    assert answers
    assert answers[0].text == ANSWER


def _long_call(caller_number: str, number: str) -> CallScript:
    return CallScript(
        from_number=caller_number,
        to_number=number,
        steps=(
            WaitForAgent(timeout=15),
            Speak(QUESTION),
            BargeIn(after_ms=2500, text=SENTENCE),
            WaitForAgent(timeout=15),
            HangUp(),
        ),
    )


async def test_barge_in_cuts_the_answer_to_the_words_heard(
    engine: Engine, voices: ElevenLabsSimulator
) -> None:
    tenant_id, number = await _tenant(engine)
    caller_number = "+15550142102"
    engine.sim.add_script(
        caller_number,
        Script(transcripts=(QUESTION, SENTENCE), replies=(Reply(LONG), Reply("Sure, go ahead."))),
    )
    result = await engine.caller().place_call(_long_call(caller_number, number), timeout=90)

    assert result.violations == []
    stream = result.streams[0]
    assert len(stream.clears) == 1
    silence_ms = (stream.clears[0] - stream.utterances[-1]) * 1000
    assert silence_ms < 1500, silence_ms
    session = engine.sim.sessions[0]
    sent = [event for _, event in session.received]
    answer_stream = next(s for s in voices.streams if "collision" in s.spoken_text.lower())
    # nothing more of the cut answer plays: after the clear the caller hears only the next one
    after_clear = [seg for seg in stream.segments if seg.start > stream.clears[0]]
    assert sum(seg.bytes for seg in after_clear) < 8 * 3000
    assert len(answer_stream.spoken_text) > 0
    # the answer after the barge-in came on the same socket, in a context of its own
    assert voices.handshakes == 1
    after = voices.streams[-1]
    assert after.spoken_text.strip() == "Sure, go ahead."
    assert after.final
    rewrites = [
        e for e in sent if e["type"] == "conversation.item.create" and e.get("previous_item_id")
    ]
    deletes = [e for e in sent if e["type"] == "conversation.item.delete"]
    assert len(rewrites) == 1
    assert [d["item_id"] for d in deletes] == [rewrites[0]["previous_item_id"]]
    heard = rewrites[0]["item"]["content"][0]["text"]
    assert LONG.startswith(heard)
    assert 3 <= len(heard.split()) < len(LONG.split())
    # the model's conversation holds the heard words in place of the full answer
    texts = [
        part.get("text")
        for item in session.items()
        for part in item.get("content", [])
        if item.get("role") == "assistant"
    ]
    assert heard in texts
    assert LONG not in texts
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    assert any("interrupted_at_ms" in t.meta for t in turns)


async def test_a_dropped_socket_continues_without_repeating_a_word(
    engine: Engine, voices: ElevenLabsSimulator
) -> None:
    tenant_id, number = await _tenant(engine)
    caller_number = "+15550142103"
    engine.sim.add_script(caller_number, Script(transcripts=(QUESTION,), replies=(Reply(LONG),)))
    voices.drop_after(1)  # the first socket (the greeting's) is cut after half a second of audio
    voices.drop_after(3)  # and the next one after a second and a half
    script = CallScript(
        from_number=caller_number,
        to_number=number,
        steps=(WaitForAgent(timeout=15), Speak(QUESTION), WaitForAgent(timeout=30), HangUp()),
    )
    result = await engine.caller().place_call(script, timeout=90)
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)

    assert result.violations == []
    assert result.streams[0].clears == []
    cut = [s for s in voices.streams if s.audio_chunks and not s.final]
    assert len(cut) == 2
    # every word of the greeting and the answer spoken once, in order, over the cut sockets
    # and the ones that replaced them
    said = " ".join(s.spoken_text for s in voices.streams)
    agent = " ".join(t.text for t in turns if t.role == "agent")
    assert LONG in agent
    assert _heard_words(said) == _words(agent)


async def test_a_refused_key_falls_back_to_the_models_voice(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, voices: ElevenLabsSimulator
) -> None:
    async with running_engine(
        pg_urls.app, jwt_secret, app_pool, elevenlabs=(voices.base_url, "revoked-key")
    ) as engine:
        tenant_id, number = await _tenant(engine)
        caller_number = "+15550142104"
        engine.sim.add_script(
            caller_number, Script(transcripts=(QUESTION,), replies=(Reply(ANSWER),))
        )
        script = CallScript(
            from_number=caller_number,
            to_number=number,
            steps=(WaitForAgent(timeout=15), Speak(QUESTION), WaitForAgent(timeout=15), HangUp()),
        )
        result = await engine.caller().place_call(script, timeout=60)
        turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
        session = engine.sim.sessions[0]

    assert result.violations == []
    assert not any(s.spoken_text for s in voices.streams)
    assert session.session_config["output_modalities"] == ["audio"]  # switched for the call
    assert result.heard_ms > 3000  # the greeting and the answer, in the model's own voice
    assert any(t.role == "system" and "voice fallback" in t.text for t in turns)
    agent = [t.text for t in turns if t.role == "agent"]
    assert ANSWER in agent


async def test_the_greeting_is_synthesised_once_and_then_starts_at_once(
    engine: Engine, voices: ElevenLabsSimulator
) -> None:
    _, number = await _tenant(engine)
    first_ms: list[float] = []
    for n in range(3):
        script = CallScript(
            from_number=f"+1555014220{n}",
            to_number=number,
            steps=(WaitForAgent(timeout=15), HangUp()),
        )
        # Twilio opens the media socket some time after the TwiML: the caller's lookup (whose
        # name the greeting says) runs meanwhile, as with a real call (test_greeting_latency)
        caller = engine.caller(stream_connect_delay_s=CONNECT_S)
        result = await caller.place_call(script, timeout=60)
        assert result.violations == []
        assert result.heard_ms > 1000
        ms = result.first_audio_after_start_ms()
        assert ms is not None
        first_ms.append(ms)
    greetings = [s for s in voices.streams if s.spoken_text]
    assert len(greetings) == 1  # synthesised for the first call only
    sessions = engine.sim.sessions
    for session in sessions:
        assert not [e for _, e in session.received if e["type"] == "response.create"]
        said = [i for i in session.items() if i["role"] == "assistant"]
        assert said[0]["content"][0]["text"] == " ".join(greetings[0].spoken_text.split())
    assert max(first_ms[1:]) < 50, first_ms  # from the cache: at once after start


async def test_a_tenants_own_key_speaks_where_the_platform_has_none(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, voices: ElevenLabsSimulator
) -> None:
    async with running_engine(
        pg_urls.app, jwt_secret, app_pool, elevenlabs=(voices.base_url, "")
    ) as engine:
        tenant_id, number = await _tenant(engine)
        sealed = SecretBox(jwt_secret, ELEVENLABS_LABEL).seal(KEY)
        assert await tenants.set_elevenlabs_key(engine.db, tenant_id, sealed)
        script = CallScript(
            from_number="+15550142301", to_number=number, steps=(WaitForAgent(timeout=15), HangUp())
        )
        result = await engine.caller().place_call(script, timeout=60)
        session = engine.sim.sessions[0]

    assert result.violations == []
    assert result.heard_ms > 1000
    assert session.session_config["output_modalities"] == ["text"]
    assert voices.streams
    assert {s.key for s in voices.streams} == {KEY}


async def test_a_caller_cutting_into_the_greeting_stops_it(
    engine: Engine, voices: ElevenLabsSimulator
) -> None:
    # long enough to be still synthesising when the caller cuts in
    greeting = (
        "Thank you for calling Integration Agency, where we help families and small businesses "
        "find the right cover for their homes, their cars and their work. My name is Ava, and "
        "I can help with quotes, claims, payments and questions about your policy."
    )
    tenant_id, number = await engine.new_tenant(greeting_new=greeting)
    assert await tenants.set_elevenlabs_voice(engine.db, tenant_id, VOICE)
    caller_number = "+15550142401"
    engine.sim.add_script(
        caller_number, Script(transcripts=(SENTENCE,), replies=(Reply("Sure, go ahead."),))
    )
    script = CallScript(
        from_number=caller_number,
        to_number=number,
        steps=(BargeIn(after_ms=1500, text=SENTENCE), WaitForAgent(timeout=15), HangUp()),
    )
    result = await engine.caller().place_call(script, timeout=60)

    assert result.violations == []
    stream = result.streams[0]
    assert len(stream.clears) == 1
    assert voices.streams[0].context_id == "greeting-1"
    after_clear = [seg for seg in stream.segments if seg.start > stream.clears[0]]
    # after the clear the caller hears only the answer, not the rest of the greeting
    assert sum(seg.bytes for seg in after_clear) < 8 * 3000
    sent = [e for _, e in engine.sim.sessions[0].received]
    rewrites = [e for e in sent if e.get("previous_item_id") == "item_greeting"]
    assert len(rewrites) == 1
    heard = rewrites[0]["item"]["content"][0]["text"]
    assert greeting.startswith(heard)


async def test_a_quote_for_the_voice_to_speak_is_cut_and_the_licensed_agent_line_said(
    engine: Engine, voices: ElevenLabsSimulator
) -> None:
    tenant_id, number = await _tenant(engine)
    caller_number = "+15550142104"
    quote = "Sure. Your premium will be $212 a month with your son on the policy."
    engine.sim.add_script(caller_number, Script(transcripts=(QUESTION,), replies=(Reply(quote),)))
    script = CallScript(
        from_number=caller_number,
        to_number=number,
        steps=(WaitForAgent(timeout=15), Speak(QUESTION), WaitForAgent(timeout=30), HangUp()),
    )
    result = await engine.caller().place_call(script, timeout=90)

    assert result.violations == []
    session = engine.sim.sessions[0]
    assert any(e["type"] == "response.cancel" for _, e in session.received)
    line = next(s for s in voices.streams if "only a licensed agent" in s.spoken_text)
    assert line.final
    # the text was stopped at the voice before a word of the amount was synthesised
    assert not any("212" in s.spoken_text for s in voices.streams)
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    assert any(t.role == "system" and "guard-rail" in t.text for t in turns)
    assert any(t.role == "agent" and "only a licensed agent" in t.text for t in turns)
