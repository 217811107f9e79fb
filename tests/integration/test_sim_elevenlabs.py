"""The ElevenLabs simulator through the engine's own multi-stream-input client, a bare
stream-input socket and the official SDK: real audible mu-law with character timings, a context
per generation on one socket, close_context, the voices endpoint, and the service's errors."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from elevenlabs.client import AsyncElevenLabs
from elevenlabs.core.api_error import ApiError
from elevenlabs.types import AudioOutputMulti, FinalOutputMulti
from picows.websockets import connect

from engine import tts_codec as tts
from engine.audio import mean_abs_level
from engine.sim.elevenlabs import ElevenLabsSimulator
from engine.tts_alignment import Utterance, add_chunk, heard_text
from engine.tts_client import TtsConnection, TtsContext, TtsError, open_connection

KEY = "sim-xi-key"
VOICE = "21m00Tcm4TlvDq8ikWAM"
TEXT = "Thanks for calling. Your policy renews on the first of June."
LONG = " ".join([TEXT] * 6)


async def _connect(sim: ElevenLabsSimulator, key: str = KEY, voice: str = VOICE) -> TtsConnection:
    return await open_connection(sim.base_url, key, voice, tts.DEFAULT_MODEL, tts.VoiceSettings())


async def _say(context: TtsContext, text: str = TEXT) -> Utterance:
    for word in text.split(" "):
        await context.speak(word + " ")
    await context.finish()
    utterance = Utterance()
    audio = b""
    async for event in context.events():
        if isinstance(event, tts.TtsAudio):
            assert event.context_id == context.context_id
            utterance = add_chunk(utterance, event)
            audio += base64.b64decode(event.audio)
    assert mean_abs_level(audio) > 300  # audible speech, not silence
    return utterance


async def test_contexts_on_one_socket_speak_with_character_timings() -> None:
    async with ElevenLabsSimulator(api_keys={KEY}, pace=0) as sim:
        connection = await _connect(sim)
        first = await _say(await connection.context("a-1"))
        second = await _say(await connection.context("b-2"), "Goodbye for now.")
        await connection.close()
    assert sim.handshakes == 1
    a, b = sim.streams
    assert (a.context_id, b.context_id) == ("a-1", "b-2")
    assert a.final
    assert b.final
    assert not a.stopped
    assert a.query["output_format"] == "ulaw_8000"
    assert a.received[0]["text"] == " "
    assert "voice_settings" in a.received[0]
    assert a.received[-1] == {"context_id": "a-1", "close_context": True}
    assert " ".join(first.chars.split()) == TEXT
    assert " ".join(second.chars.split()) == "Goodbye for now."
    assert list(first.starts_ms) == sorted(first.starts_ms)
    assert first.ends_ms[-1] <= first.audio_ms + 5
    assert heard_text(first, first.audio_ms) == TEXT
    assert heard_text(first, 0) == ""
    middle = heard_text(first, first.audio_ms // 2)
    assert TEXT.startswith(middle)
    assert 0 < len(middle) < len(TEXT)


async def test_the_simulators_messages_are_the_sdks_multi_context_messages() -> None:
    async with ElevenLabsSimulator(api_keys={KEY}, pace=0) as sim:
        url = tts.multi_stream_url(sim.base_url, VOICE, tts.DEFAULT_MODEL)
        async with connect(url, additional_headers={"xi-api-key": KEY}) as ws:
            await ws.send(tts.init_message("ctx", tts.VoiceSettings()))
            await ws.send(tts.text_message("ctx", "Hello there."))
            await ws.send(tts.flush_message("ctx"))
            await ws.send(tts.close_context_message("ctx"))
            frames = [json.loads(await ws.recv())]
            while not frames[-1].get("isFinal"):
                frames.append(json.loads(await ws.recv()))
    *audio, final = frames
    assert audio
    chars = ""
    for frame in audio:
        parsed = AudioOutputMulti.model_validate(frame)
        assert parsed.context_id == "ctx"
        assert parsed.alignment is not None
        chars += "".join(parsed.alignment.chars or [])
    assert chars.strip() == "Hello there."
    assert FinalOutputMulti.model_validate(final).context_id == "ctx"


async def test_close_context_stops_only_that_context() -> None:
    async with ElevenLabsSimulator(api_keys={KEY}, first_chunk_ms=50, pace=2.0) as sim:
        connection = await _connect(sim)
        long = await connection.context("long")
        await long.speak(LONG)
        events = long.events()
        assert isinstance(await anext(events), tts.TtsAudio)
        began = time.monotonic()
        await long.close()
        # the socket carries on: the next answer starts without a handshake
        after = await _say(await connection.context("next"), "Sure, go ahead.")
        await connection.close()
    assert time.monotonic() - began < 5
    assert sim.handshakes == 1
    stopped, spoken = sim.streams
    assert stopped.stopped  # closed with text still to speak
    assert stopped.final  # the service ends a closed context with isFinal
    assert len(stopped.spoken_text) < len(LONG) // 2
    assert " ".join(after.chars.split()) == "Sure, go ahead."
    assert spoken.final
    assert not spoken.stopped


async def test_a_refused_key_is_final_and_a_busy_service_is_retryable() -> None:
    async with ElevenLabsSimulator(api_keys={KEY}, pace=0) as sim:
        for key, voice in (("wrong", VOICE), (KEY, "no-such-voice")):
            connection = await _connect(sim, key=key, voice=voice)
            with pytest.raises(TtsError) as refused:
                await _say(await connection.context("c"))
            assert not refused.value.retryable
            await connection.close()
        sim.fail_next(503)
        with pytest.raises(TtsError) as busy:
            await _connect(sim)
        assert busy.value.retryable
        assert busy.value.status == 503


async def test_a_dropped_socket_fails_every_open_context_retryably() -> None:
    async with ElevenLabsSimulator(api_keys={KEY}, pace=0) as sim:
        sim.drop_after(1)
        connection = await _connect(sim)
        first = await connection.context("one")
        second = await connection.context("two")  # no text yet: waiting on the same socket
        with pytest.raises(TtsError) as dropped:
            await _say(first, LONG)
        assert dropped.value.retryable
        with pytest.raises(TtsError):
            async for _ in second.events():
                pass
        assert not connection.open
        await connection.close()


async def test_a_sixth_open_context_is_refused() -> None:
    async with ElevenLabsSimulator(api_keys={KEY}, pace=0) as sim:
        connection = await _connect(sim)
        contexts = [await connection.context(f"c{n}") for n in range(5)]
        assert not connection.room  # the client knows the limit too
        ws_url = tts.multi_stream_url(sim.base_url, VOICE, tts.DEFAULT_MODEL)
        async with connect(ws_url, additional_headers={"xi-api-key": KEY}) as ws:
            for n in range(6):
                await ws.send(tts.init_message(f"x{n}", tts.VoiceSettings()))
            error = json.loads(await ws.recv())
            await ws.wait_closed()
        assert error["error"] == "max_active_conversations"
        assert ws.close_code == 1008
        for context in contexts:
            await context.close()
        await connection.close()


@pytest.mark.parametrize(
    "frame",
    ['{"text": 5, "context_id": "c"}', '{"text": "hi", "context_id": 7}', "[1, 2]", "not json"],
)
async def test_bad_messages_get_a_clear_error_and_a_policy_close(frame: str) -> None:
    async with ElevenLabsSimulator(api_keys={KEY}, pace=0) as sim:
        url = tts.multi_stream_url(sim.base_url, VOICE, tts.DEFAULT_MODEL)
        async with connect(url, additional_headers={"xi-api-key": KEY}) as ws:
            await ws.send(frame)
            error = json.loads(await ws.recv())
            await ws.wait_closed()
    assert error["error"] == "invalid_message"
    assert "Invalid message" in error["message"]
    assert ws.close_code == 1008


async def test_stream_input_is_one_generation_per_socket() -> None:
    async with ElevenLabsSimulator(api_keys={KEY}, pace=0) as sim:
        url = tts.multi_stream_url(sim.base_url, VOICE, tts.DEFAULT_MODEL).replace(
            "multi-stream-input", "stream-input"
        )
        async with connect(url, additional_headers={"xi-api-key": KEY}) as ws:
            await ws.send(json.dumps({"text": " ", "voice_settings": {"stability": 0.5}}))
            await ws.send(json.dumps({"text": TEXT + " ", "try_trigger_generation": True}))
            await ws.send(json.dumps({"text": ""}))
            frames = [json.loads(f) async for f in ws]
        assert ws.close_code == 1000
    *audio, final = frames
    assert final["isFinal"] is True
    assert "contextId" not in audio[0]
    (stream,) = sim.streams
    assert stream.context_id is None
    assert stream.final
    assert " ".join(stream.spoken_text.split()) == TEXT


async def test_voices_through_the_official_sdk() -> None:
    async with ElevenLabsSimulator(api_keys={KEY}) as sim:
        client = AsyncElevenLabs(api_key=KEY, base_url=sim.base_url)
        voices = await client.voices.get_all()
        assert VOICE in {v.voice_id for v in voices.voices}
        with pytest.raises(ApiError) as refused:
            await AsyncElevenLabs(api_key="wrong", base_url=sim.base_url).voices.get_all()
        assert refused.value.status_code == 401


async def test_an_idle_socket_is_closed_by_the_service() -> None:
    async with ElevenLabsSimulator(api_keys={KEY}, pace=0) as sim:
        url = tts.multi_stream_url(sim.base_url, VOICE, tts.DEFAULT_MODEL, inactivity_timeout=1)
        async with connect(url, additional_headers={"xi-api-key": KEY}) as ws:
            await ws.send(tts.init_message("c", tts.VoiceSettings()))
            error = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.wait_closed()
    assert error["error"] == "input_timeout_exceeded"
    assert ws.close_code == 1008
