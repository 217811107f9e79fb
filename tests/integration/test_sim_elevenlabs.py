"""The ElevenLabs simulator through the engine's own stream-input client and the official SDK:
real audible mu-law with character timings, the voices endpoint, and the service's errors."""

from __future__ import annotations

import base64

import pytest
from elevenlabs.client import AsyncElevenLabs
from elevenlabs.core.api_error import ApiError

from engine import tts_codec as tts
from engine.audio import mean_abs_level
from engine.sim.elevenlabs import ElevenLabsSimulator
from engine.tts_alignment import Utterance, add_chunk, heard_text
from engine.tts_client import TtsError, open_stream

KEY = "sim-xi-key"
VOICE = "21m00Tcm4TlvDq8ikWAM"
TEXT = "Thanks for calling. Your policy renews on the first of June."


async def _speak(sim: ElevenLabsSimulator, key: str = KEY, voice: str = VOICE) -> Utterance:
    socket = await open_stream(sim.base_url, key, voice, tts.DEFAULT_MODEL, tts.VoiceSettings())
    for word in TEXT.split(" "):
        await socket.speak(word + " ")
    await socket.finish()
    utterance = Utterance()
    audio = b""
    async for event in socket.events():
        if isinstance(event, tts.TtsAudio):
            utterance = add_chunk(utterance, event)
            audio += base64.b64decode(event.audio)
    assert mean_abs_level(audio) > 300  # audible speech, not silence
    return utterance


async def test_stream_input_speaks_the_text_with_character_timings() -> None:
    async with ElevenLabsSimulator(api_keys={KEY}, pace=0) as sim:
        utterance = await _speak(sim)
        stream = sim.streams[0]
    assert stream.query["output_format"] == "ulaw_8000"
    assert stream.final
    assert stream.closed_code == 1000
    first = stream.received[0]
    assert first["text"] == " "
    assert "voice_settings" in first
    assert "generation_config" in first
    assert " ".join(utterance.chars.split()) == TEXT
    assert list(utterance.starts_ms) == sorted(utterance.starts_ms)
    assert utterance.ends_ms[-1] <= utterance.audio_ms + 5
    assert heard_text(utterance, utterance.audio_ms) == TEXT
    assert heard_text(utterance, 0) == ""
    middle = heard_text(utterance, utterance.audio_ms // 2)
    assert TEXT.startswith(middle)
    assert 0 < len(middle) < len(TEXT)


async def test_a_refused_key_is_final_and_a_busy_service_is_retryable() -> None:
    async with ElevenLabsSimulator(api_keys={KEY}, pace=0) as sim:
        with pytest.raises(TtsError) as refused:
            await _speak(sim, key="wrong")
        assert not refused.value.retryable
        with pytest.raises(TtsError) as unknown:
            await _speak(sim, voice="no-such-voice")
        assert not unknown.value.retryable
        sim.fail_next(503)
        with pytest.raises(TtsError) as busy:
            await _speak(sim)
        assert busy.value.retryable
        assert busy.value.status == 503


async def test_a_dropped_socket_is_retryable() -> None:
    async with ElevenLabsSimulator(api_keys={KEY}, pace=0) as sim:
        sim.drop_after(1)
        with pytest.raises(TtsError) as dropped:
            await _speak(sim)
        assert dropped.value.retryable


async def test_voices_through_the_official_sdk() -> None:
    async with ElevenLabsSimulator(api_keys={KEY}) as sim:
        client = AsyncElevenLabs(api_key=KEY, base_url=sim.base_url)
        voices = await client.voices.get_all()
        assert VOICE in {v.voice_id for v in voices.voices}
        with pytest.raises(ApiError) as refused:
            await AsyncElevenLabs(api_key="wrong", base_url=sim.base_url).voices.get_all()
        assert refused.value.status_code == 401
