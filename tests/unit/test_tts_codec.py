"""The ElevenLabs multi-stream-input codec and the alignment arithmetic: pure, no sockets."""

from __future__ import annotations

import json

import pytest

from engine import tts_codec as tts
from engine.audio import b64
from engine.tts_alignment import Utterance, add_chunk, heard_text, unspoken


def test_url_from_the_http_base_url() -> None:
    url = tts.multi_stream_url("https://api.elevenlabs.io", "abc/1", "eleven_flash_v2_5")
    assert url.startswith("wss://api.elevenlabs.io/v1/text-to-speech/abc%2F1/multi-stream-input?")
    assert "output_format=ulaw_8000" in url
    assert "model_id=eleven_flash_v2_5" in url
    assert tts.multi_stream_url("http://127.0.0.1:9/", "v", "m").startswith("ws://127.0.0.1:9/v1/")
    with pytest.raises(ValueError, match="voice id"):
        tts.multi_stream_url("https://api.elevenlabs.io", "", "m")


def test_client_messages_name_their_context() -> None:
    first = json.loads(tts.init_message("r1-1", tts.VoiceSettings(stability=0.3)))
    assert first["text"] == " "
    assert first["context_id"] == "r1-1"
    assert first["voice_settings"]["stability"] == 0.3
    assert first["generation_config"]["chunk_length_schedule"][0] == 50
    assert json.loads(tts.text_message("r1-1", "Hello")) == {"text": "Hello ", "context_id": "r1-1"}
    assert json.loads(tts.flush_message("r1-1")) == {
        "text": " ",
        "context_id": "r1-1",
        "flush": True,
    }
    assert json.loads(tts.close_context_message("r1-1")) == {
        "context_id": "r1-1",
        "close_context": True,
    }
    assert json.loads(tts.close_socket_message()) == {"close_socket": True}


def test_client_messages_are_the_sdks_multi_context_messages() -> None:
    """Each message parses as the official SDK's type for it, with no field the SDK does not
    know (the SDK is the documented schema; the call actor does not import it)."""
    from elevenlabs.core.unchecked_base_model import UncheckedBaseModel
    from elevenlabs.types import (
        CloseContext,
        CloseSocket,
        FlushContext,
        InitialiseContext,
        SendTextMulti,
    )

    settings = tts.VoiceSettings(stability=0.3, similarity_boost=0.6, speed=1.1)
    cases: list[tuple[type[UncheckedBaseModel], str]] = [
        (InitialiseContext, tts.init_message("c", settings)),
        (SendTextMulti, tts.text_message("c", "Hello")),
        (FlushContext, tts.flush_message("c")),
        (CloseContext, tts.close_context_message("c")),
        (CloseSocket, tts.close_socket_message()),
    ]
    for model, frame in cases:
        parsed = model.model_validate(json.loads(frame))
        assert not parsed.model_extra, (model.__name__, parsed.model_extra)
        if model is not CloseSocket:
            assert getattr(parsed, "context_id", None) == "c"
    init = InitialiseContext.model_validate(json.loads(tts.init_message("c", settings)))
    assert init.voice_settings is not None
    assert (init.voice_settings.stability, init.voice_settings.speed) == (0.3, 1.1)


def test_server_messages_of_a_context() -> None:
    audio = {"audio": b64(b"\xff" * 8), "contextId": "r2-3", "alignment": None}
    event = tts.decode(json.dumps(audio))
    assert isinstance(event, tts.TtsAudio)
    assert event.context_id == "r2-3"
    assert tts.decode('{"isFinal": true, "contextId": "r2-3"}') == tts.TtsFinal("r2-3")
    # the snake-case spelling the service has also been seen to send
    assert tts.decode('{"is_final": true, "context_id": "r2-3"}') == tts.TtsFinal("r2-3")
    failure = tts.decode(
        '{"message": "Maximum simultaneous contexts", "error": "max_active_conversations",'
        ' "code": 1008, "context_id": "r9"}'
    )
    assert failure == tts.TtsFailure(
        "Maximum simultaneous contexts", "max_active_conversations", 1008, "r9"
    )


def test_chunker_cuts_at_word_boundaries() -> None:
    chunker = tts.TextChunker()
    assert chunker.feed("Hel") is None
    assert chunker.feed("lo the") == "Hello "
    assert chunker.feed("re, friend") == "there, "
    assert chunker.rest() == "friend"
    assert chunker.rest() is None


def test_decode_server_messages() -> None:
    audio = {
        "audio": b64(b"\xff" * 80),
        "alignment": {"chars": ["H", "i"], "charStartTimesMs": [0, 4], "charsDurationsMs": [4, 6]},
    }
    event = tts.decode(json.dumps(audio))
    assert event == tts.TtsAudio(audio["audio"], 80, ("H", "i"), (0, 4), (4, 6))  # type: ignore[arg-type]
    sdk_spelling = {
        **audio,
        "alignment": {"chars": ["H"], "charStartTimesMs": [0], "charDurationsMs": [3]},
    }
    decoded = tts.decode(json.dumps(sdk_spelling))
    assert isinstance(decoded, tts.TtsAudio)
    assert decoded.durations_ms == (3,)
    assert tts.decode('{"audio": null, "isFinal": true}') == tts.TtsFinal()
    failure = tts.decode('{"message": "Invalid API key", "error": "invalid_api_key", "code": 1008}')
    assert failure == tts.TtsFailure("Invalid API key", "invalid_api_key", 1008)
    assert tts.decode('{"audio": ""}') is None


@pytest.mark.parametrize("frame", ["not json", "[1, 2]", '"text"', "{" * 100_000])
def test_bad_frames_are_refused(frame: str) -> None:
    with pytest.raises(ValueError, match="ElevenLabs frame"):
        tts.decode(frame)


def test_mismatched_alignment_is_dropped_not_trusted() -> None:
    bad = {
        "audio": b64(b"\xff" * 8),
        "alignment": {"chars": ["a", "b"], "charStartTimesMs": [0], "charsDurationsMs": [1, 1]},
    }
    event = tts.decode(json.dumps(bad))
    assert isinstance(event, tts.TtsAudio)
    assert event.chars == ()


def _chunk(text: str, ms_per_char: int = 10) -> tts.TtsAudio:
    n = len(text)
    return tts.TtsAudio(
        b64(b"\xff" * n * ms_per_char * 8),
        n * ms_per_char * 8,
        tuple(text),
        tuple(i * ms_per_char for i in range(n)),
        (ms_per_char,) * n,
    )


def test_heard_text_lays_chunks_end_to_end_and_drops_a_half_heard_word() -> None:
    u = add_chunk(add_chunk(Utterance(), _chunk("Hello there ")), _chunk("my friend."))
    assert u.audio_ms == 220
    assert heard_text(u, 60) == "Hello"
    assert heard_text(u, 80) == "Hello"  # "th" of "there" is not a word heard
    assert heard_text(u, 120) == "Hello there"
    assert heard_text(u, 150) == "Hello there my"  # the second chunk starts at 120 ms
    assert heard_text(u, 10_000) == "Hello there my friend."
    assert heard_text(Utterance(), 500) == ""


def test_unspoken_is_what_has_no_audio_yet() -> None:
    u = add_chunk(Utterance(), _chunk("Hello there "))
    assert unspoken("Hello there my friend.", u) == "my friend."
    assert unspoken("Hello  there  my friend.", u) == "my friend."  # whitespace differs
    assert unspoken("Hello there ", u) == ""
    assert unspoken("Hi", Utterance()) == "Hi"
    half = add_chunk(Utterance(), _chunk("Hello th"))
    assert unspoken("Hello there my friend.", half) == "there my friend."  # said again whole
