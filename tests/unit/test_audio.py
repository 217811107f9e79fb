"""G.711 mu-law helpers against known values, plus framing, base64 sizes and WAV loading."""

from __future__ import annotations

import base64
import math
import wave
from array import array
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import audio


def test_constants() -> None:
    assert (audio.SAMPLE_RATE, audio.BYTES_PER_MS, audio.FRAME_MS, audio.FRAME_BYTES) == (
        8000,
        8,
        20,
        160,
    )


@pytest.mark.parametrize(
    ("byte", "sample"),
    [
        (0xFF, 0),
        (0x7F, 0),
        (0x00, -32124),
        (0x80, 32124),
        (0xFE, 8),
        (0x7E, -8),
        (0xF0, 120),
        (0xEF, 132),
        (0x70, -120),
    ],
)
def test_decode_known_g711_values(byte: int, sample: int) -> None:
    assert audio.ulaw_decode(bytes([byte])).tolist() == [sample]


def test_decode_is_odd_symmetric() -> None:
    decoded = audio.ulaw_decode(bytes(range(256)))
    for byte in range(128):
        assert decoded[byte] == -decoded[byte | 0x80]


def test_decode_is_monotonic_within_each_half() -> None:
    # 0x00..0x7F are negative from -32124 up to 0; 0x80..0xFF positive from 32124 down to 0.
    decoded = audio.ulaw_decode(bytes(range(256))).tolist()
    assert decoded[:128] == sorted(decoded[:128])
    assert decoded[128:] == sorted(decoded[128:], reverse=True)


@pytest.mark.parametrize(
    ("sample", "byte"),
    [
        (0, 0xFF),
        (32767, 0x80),
        (-32768, 0x00),
        (32124, 0x80),
        (-32124, 0x00),
        (8, 0xFE),
        (-8, 0x7E),
    ],
)
def test_encode_known_values(sample: int, byte: int) -> None:
    assert audio.ulaw_encode([sample]) == bytes([byte])


def test_encode_clips_out_of_range_samples() -> None:
    assert audio.ulaw_encode([100_000, -100_000]) == bytes([0x80, 0x00])


def test_round_trip_every_byte_but_negative_zero() -> None:
    codes = bytes(b for b in range(256) if b != 0x7F)
    assert audio.ulaw_encode(audio.ulaw_decode(codes)) == codes
    # 0x7F is "negative zero": it decodes to 0, which encodes as 0xFF.
    assert audio.ulaw_encode(audio.ulaw_decode(b"\x7f")) == b"\xff"


def test_encode_then_decode_error_is_within_the_step_size() -> None:
    for sample in range(-32000, 32000, 37):
        back = audio.ulaw_decode(audio.ulaw_encode([sample]))[0]
        assert abs(back - sample) <= max(8, abs(sample) // 16)


def test_silence() -> None:
    assert audio.silence(20) == b"\xff" * 160
    assert audio.silence(0) == b""
    assert audio.mean_abs_level(audio.silence(100)) == 0.0
    assert audio.mean_abs_level(b"") == 0.0


def test_mean_abs_level() -> None:
    assert audio.mean_abs_level(bytes([0x00, 0x80, 0xFF, 0x7F])) == 32124 / 2


def test_duration_ms() -> None:
    assert [audio.duration_ms(n) for n in (0, 7, 8, 160, 8000, 8007)] == [0, 0, 1, 20, 1000, 1000]


def test_speech_ms_for_text() -> None:
    assert audio.speech_ms_for_text("") == 400
    assert audio.speech_ms_for_text("  hi  ") == 400
    assert audio.speech_ms_for_text("x" * 140) == 10_000
    assert audio.speech_ms_for_text("x" * 15) == 1071


def test_speech_like_is_deterministic_per_text() -> None:
    first = audio.speech_like("I need a quote for my boat.")
    assert first == audio.speech_like("I need a quote for my boat.")
    assert first != audio.speech_like("I need a quote for my car.")
    assert len(first) == audio.speech_ms_for_text("I need a quote for my boat.") * 8


def test_speech_like_length_and_level() -> None:
    clip = audio.speech_like("hello", ms=1000)
    assert len(clip) == 8000
    assert audio.mean_abs_level(clip) > 1000  # silence is 0; the level is 6000 at peaks
    quiet = audio.speech_like("hello", ms=1000, level=600)
    assert 0 < audio.mean_abs_level(quiet) < audio.mean_abs_level(clip) / 5


def test_speech_like_has_voiced_syllables_separated_by_gaps() -> None:
    clip = audio.speech_like("hello", ms=1000)
    levels = [audio.mean_abs_level(frame) for frame in audio.frames(clip)]
    # 180 ms syllables, 40 ms gaps: frame 9..10 (180..220 ms) is the first gap.
    assert levels[4] > 1000
    assert levels[9] == 0.0
    assert levels[10] == 0.0


def test_frames_pads_the_last_frame_with_silence() -> None:
    data = bytes(range(200))
    out = audio.frames(data)
    assert [len(f) for f in out] == [160, 160]
    assert out[0] == data[:160]
    assert out[1] == data[160:] + b"\xff" * 120


def test_frames_exact_multiple_and_empty() -> None:
    assert audio.frames(bytes(320)) == [bytes(160), bytes(160)]
    assert audio.frames(b"") == []
    assert audio.frames(b"\x01\x02\x03", frame_bytes=2) == [b"\x01\x02", b"\x03\xff"]


def test_b64() -> None:
    assert audio.b64(b"\xff\x00") == "/wA="


@given(st.binary(min_size=0, max_size=50))
def test_b64_decoded_len_matches_decoding(data: bytes) -> None:
    encoded = base64.b64encode(data).decode()
    assert audio.b64_decoded_len(encoded) == len(base64.b64decode(encoded)) == len(data)


@pytest.mark.parametrize("n", range(51))
def test_b64_decoded_len_for_every_length(n: int) -> None:
    assert audio.b64_decoded_len(audio.b64(bytes(n))) == n


def _tone(rate: int, ms: int, freq: float = 440.0, amplitude: int = 8000) -> array[int]:
    n = rate * ms // 1000
    return array("h", (int(amplitude * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)))


def _write_wav(
    path: Path, samples: array[int], rate: int, channels: int = 1, width: int = 2
) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())


def test_load_wav_at_8_khz_is_encoded_as_is(tmp_path: Path) -> None:
    samples = _tone(8000, 250)
    path = tmp_path / "tone8k.wav"
    _write_wav(path, samples, 8000)
    loaded = audio.load_wav_as_ulaw(path)
    assert len(loaded) == 2000
    assert loaded == audio.ulaw_encode(samples)


def test_load_wav_at_16_khz_is_resampled(tmp_path: Path) -> None:
    samples = _tone(16000, 250)
    path = tmp_path / "tone16k.wav"
    _write_wav(path, samples, 16000)
    loaded = audio.load_wav_as_ulaw(path)
    assert len(loaded) == 2000
    # Halving the rate lands exactly on every other input sample.
    assert loaded == audio.ulaw_encode(samples[::2])


def test_load_wav_at_11025_hz_interpolates(tmp_path: Path) -> None:
    samples = array("h", [0, 1000, 2000, 3000] * 2756)
    path = tmp_path / "ramp.wav"
    _write_wav(path, samples, 11025)
    loaded = audio.load_wav_as_ulaw(path)
    assert len(loaded) == int(len(samples) * 8000 / 11025)
    step = 11025 / 8000  # output sample 1 sits at input 1.378: between 1000 and 2000
    expected = int(1000 + 1000 * (step - 1))
    assert loaded[:2] == audio.ulaw_encode([0, expected])


def test_load_stereo_wav_keeps_the_first_channel(tmp_path: Path) -> None:
    left = _tone(8000, 100)
    interleaved = array("h")
    for sample in left:
        interleaved.extend((sample, 12345))
    path = tmp_path / "stereo.wav"
    _write_wav(path, interleaved, 8000, channels=2)
    assert audio.load_wav_as_ulaw(path) == audio.ulaw_encode(left)


def test_load_wav_refuses_8_bit(tmp_path: Path) -> None:
    path = tmp_path / "8bit.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(bytes(100))
    with pytest.raises(ValueError, match="only 16-bit PCM"):
        audio.load_wav_as_ulaw(path)
