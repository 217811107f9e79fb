"""The realtime simulator's energy VAD and its reply-audio codecs, on scripted audio timelines."""

from __future__ import annotations

import pytest

from engine.audio import BYTES_PER_MS, mean_abs_level, silence, speech_like, ulaw_decode
from engine.sim.realtime_reply_audio import render_reply_audio, transcode_ulaw
from engine.sim.vad import (
    ALAW_DECODE_TABLE,
    LEVEL_FUNCTIONS,
    EnergyVad,
    SpeechStarted,
    SpeechStopped,
    VadEvent,
)


def timeline(*parts: tuple[str, int]) -> bytes:
    """("speech", ms) / ("silence", ms) segments as one mu-law buffer."""
    out = b""
    for kind, ms in parts:
        out += speech_like(f"segment {len(out)}", ms=ms) if kind == "speech" else silence(ms)
    return out


def feed_in_chunks(vad: EnergyVad, audio: bytes, chunk: int) -> list[VadEvent]:
    events: list[VadEvent] = []
    for offset in range(0, len(audio), chunk):
        events += vad.feed(audio[offset : offset + chunk], offset // BYTES_PER_MS)
    return events


def test_silence_gives_no_events() -> None:
    vad = EnergyVad()
    assert feed_in_chunks(vad, silence(3000), 160) == []
    assert not vad.speaking


def test_one_utterance_gives_start_with_padding_and_stop_after_silence() -> None:
    vad = EnergyVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500)
    events = feed_in_chunks(
        vad, timeline(("silence", 1000), ("speech", 1500), ("silence", 1000)), 160
    )
    assert [type(e) for e in events] == [SpeechStarted, SpeechStopped]
    start, stop = events
    assert isinstance(start, SpeechStarted)
    assert isinstance(stop, SpeechStopped)
    # speech begins at 1000 ms (the first voiced window is a few windows in) minus 300 ms padding
    assert 700 <= start.audio_start_ms <= 800
    # last voiced audio ends before 2500 ms; the stop is decided 500 ms of silence later
    assert 2900 <= stop.audio_end_ms <= 3000


def test_events_do_not_depend_on_chunking() -> None:
    audio = timeline(
        ("silence", 400), ("speech", 900), ("silence", 700), ("speech", 600), ("silence", 800)
    )
    reference = feed_in_chunks(EnergyVad(silence_duration_ms=400), audio, 160)
    assert len(reference) == 4
    for chunk in (7, 333, 800, 4000, len(audio)):
        assert feed_in_chunks(EnergyVad(silence_duration_ms=400), audio, chunk) == reference


def test_short_pause_does_not_end_the_turn_but_a_long_one_does() -> None:
    audio = timeline(("speech", 800), ("silence", 300), ("speech", 800), ("silence", 1000))
    patient = feed_in_chunks(EnergyVad(silence_duration_ms=500), audio, 160)
    eager = feed_in_chunks(EnergyVad(silence_duration_ms=200), audio, 160)
    assert [type(e) for e in patient] == [SpeechStarted, SpeechStopped]
    assert [type(e) for e in eager] == [SpeechStarted, SpeechStopped] * 2


def test_threshold_maps_onto_level() -> None:
    quiet = silence(200) + speech_like("quiet caller", ms=1000, level=1000) + silence(800)
    assert mean_abs_level(quiet) < 200
    assert feed_in_chunks(EnergyVad(threshold=0.5), quiet, 160) == []
    assert len(feed_in_chunks(EnergyVad(threshold=0.0), quiet, 160)) == 2


def test_padding_never_reaches_before_the_previous_turn() -> None:
    audio = timeline(("speech", 600), ("silence", 250), ("speech", 600), ("silence", 600))
    events = feed_in_chunks(EnergyVad(prefix_padding_ms=1000, silence_duration_ms=200), audio, 160)
    starts = [e.audio_start_ms for e in events if isinstance(e, SpeechStarted)]
    stops = [e.audio_end_ms for e in events if isinstance(e, SpeechStopped)]
    assert starts[0] == 0
    assert starts[1] >= stops[0]


def test_reset_forgets_speech_in_progress() -> None:
    vad = EnergyVad(silence_duration_ms=300)
    assert [type(e) for e in vad.feed(speech_like("hello", ms=600), 0)] == [SpeechStarted]
    vad.reset(600)
    assert not vad.speaking
    assert vad.feed(silence(1000), 600) == []


def test_discontiguous_chunk_drops_the_partial_window() -> None:
    vad = EnergyVad()
    vad.feed(speech_like("x", ms=100)[:100], 0)  # 12.5 ms: a partial window stays pending
    assert vad.feed(silence(1000), 5000) == []  # not contiguous: the partial window is dropped


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.5}, "threshold"),
        ({"silence_duration_ms": -1}, ">= 0"),
        ({"audio_format": "audio/opus"}, "unsupported"),
    ],
)
def test_invalid_parameters_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EnergyVad(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("audio_format", ["audio/pcma", "audio/pcm"])
def test_other_formats_give_the_same_turns(audio_format: str) -> None:
    ulaw = timeline(("silence", 300), ("speech", 900), ("silence", 700))
    converted = transcode_ulaw(ulaw, audio_format)
    per_ms = 48 if audio_format == "audio/pcm" else 8
    assert len(converted) == len(ulaw) // BYTES_PER_MS * per_ms
    reference = feed_in_chunks(EnergyVad(), ulaw, 160)
    vad = EnergyVad(audio_format=audio_format)
    events: list[VadEvent] = []
    for offset in range(0, len(converted), 20 * per_ms):
        events += vad.feed(converted[offset : offset + 20 * per_ms], offset // per_ms)
    assert events == reference
    level = LEVEL_FUNCTIONS[audio_format](converted)
    assert abs(level - mean_abs_level(ulaw)) < 0.05 * mean_abs_level(ulaw)


def test_fast_ulaw_level_equals_the_reference_level() -> None:
    audio = speech_like("reference level", ms=400) + bytes(range(256))
    for frame in [audio[i : i + 160] for i in range(0, len(audio), 160)]:
        assert LEVEL_FUNCTIONS["audio/pcmu"](frame) == mean_abs_level(frame)


def test_alaw_round_trip_keeps_the_signal() -> None:
    ulaw = bytes(range(256))
    alaw = transcode_ulaw(ulaw, "audio/pcma")
    for u, a in zip(ulaw_decode(ulaw), alaw, strict=True):
        assert abs(ALAW_DECODE_TABLE[a] - u) <= max(16, abs(u) // 16)


def test_rendered_reply_audio_is_chunked_and_cached() -> None:
    text = "Thanks for calling, how can I help?"
    rendered = render_reply_audio(text, "audio/pcmu", 100)
    assert rendered is render_reply_audio(text, "audio/pcmu", 100)
    assert sum(rendered.chunk_ms) == rendered.total_ms == len(speech_like(text)) // BYTES_PER_MS
    assert all(ms == 100 for ms in rendered.chunk_ms[:-1])
    assert render_reply_audio(text, "audio/pcm", 100).total_ms == rendered.total_ms
