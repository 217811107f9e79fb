"""The simulated caller's playback buffer: real-time draining, marks, clear, heard segments."""

from __future__ import annotations

import base64
import wave
from pathlib import Path

import pytest

from engine.audio import FRAME_BYTES, speech_like
from engine.sim.twilio_call_script import BargeIn, Dtmf, Pause, Speak, utterance_payloads
from engine.sim.twilio_playback import HeardSegment, Playback
from engine.sim.twilio_stream_messages import SILENCE_PAYLOAD

TICK = 0.02


def run_ticks(pb: Playback, first: int, count: int) -> list[tuple[int, list[str]]]:
    """Tick `count` times from tick number `first`; returns (tick, released marks) pairs."""
    out = []
    for n in range(first, first + count):
        released = pb.tick(n * TICK)
        if released:
            out.append((n, released))
    return out


def test_mark_with_nothing_buffered_is_due_at_once() -> None:
    pb = Playback()
    assert pb.add_mark("m0") == ["m0"]
    assert pb.pending_marks == []


def test_mark_is_released_only_after_its_audio_played() -> None:
    pb = Playback()
    pb.enqueue(bytes(FRAME_BYTES * 5))  # 100 ms
    assert pb.add_mark("m1") == []
    # Ticks 1..5 play the audio; the mark is due at tick 6, when the last 20 ms has finished.
    assert run_ticks(pb, 1, 10) == [(6, ["m1"])]
    assert pb.played_total == FRAME_BYTES * 5


def test_marks_keep_their_place_in_the_buffer() -> None:
    pb = Playback()
    pb.enqueue(bytes(FRAME_BYTES))
    pb.add_mark("a")
    pb.enqueue(bytes(FRAME_BYTES * 2))
    pb.add_mark("b")
    assert run_ticks(pb, 1, 6) == [(2, ["a"]), (4, ["b"])]


def test_clear_drops_audio_and_returns_pending_marks() -> None:
    pb = Playback()
    pb.enqueue(bytes(FRAME_BYTES * 50))
    pb.add_mark("x")
    pb.add_mark("y")
    run_ticks(pb, 1, 3)
    assert pb.clear() == ["x", "y"]
    assert pb.buffered == 0
    assert pb.played_total == FRAME_BYTES * 3
    assert run_ticks(pb, 4, 5) == []


def test_partial_frame_plays_and_ends_the_segment() -> None:
    pb = Playback(keep_audio=True)
    pb.enqueue(b"\x01" * (FRAME_BYTES + 40))
    run_ticks(pb, 1, 4)
    (segment,) = pb.segments
    assert segment == HeardSegment(start=0.02, end=segment.end, bytes=200, audio=b"\x01" * 200)
    assert segment.end == pytest.approx(0.045)


def test_gap_in_agent_audio_splits_segments() -> None:
    pb = Playback()
    pb.enqueue(bytes(FRAME_BYTES * 2))
    run_ticks(pb, 1, 4)  # plays ticks 1-2, silent 3-4
    pb.enqueue(bytes(FRAME_BYTES))
    run_ticks(pb, 5, 2)
    pb.finish()
    assert [(round(s.start, 6), s.bytes) for s in pb.segments] == [(0.02, 320), (0.1, 160)]
    assert pb.segments[0].audio == b""  # not kept unless asked


def test_turn_counts_played_audio_until_reset() -> None:
    pb = Playback()
    pb.enqueue(bytes(FRAME_BYTES * 4))
    run_ticks(pb, 1, 3)
    assert pb.turn_played == FRAME_BYTES * 3
    assert pb.last_play_end == pytest.approx(0.08)
    pb.new_turn()
    run_ticks(pb, 4, 2)
    assert pb.turn_played == FRAME_BYTES


def test_utterance_payloads_are_precomputed_frames() -> None:
    payloads = utterance_payloads(Speak("hello there", ms=400))
    assert len(payloads) == 20
    assert payloads is utterance_payloads(BargeIn(after_ms=0, text="hello there", ms=400))
    assert b"".join(base64.b64decode(p) for p in payloads) == speech_like("hello there", 400)
    assert payloads[5] != SILENCE_PAYLOAD


def test_speak_can_stream_a_wav_file(tmp_path: Path) -> None:
    path = tmp_path / "hello.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(bytes(2 * 16000 // 2))  # 500 ms
    assert len(utterance_payloads(Speak("ignored", wav=path))) == 25


@pytest.mark.parametrize("bad", [lambda: Dtmf("12"), lambda: Dtmf("x"), lambda: Pause(-1)])
def test_invalid_steps_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="must"):
        bad()  # type: ignore[operator]
