"""G.711 mu-law audio helpers: codec tables, frame energy and speech-like test audio.

Pure functions, no I/O. The engine itself never decodes call audio (payloads pass through
untouched, except that the speech meter measures the loudness of caller frames while the agent
is talked over); these helpers serve that meter, the simulators, the VAD of the realtime
simulator, and test fixtures. Twilio's media format is 8 kHz mono mu-law, 160 bytes per 20 ms frame.
"""

from __future__ import annotations

import base64
import hashlib
import math
import wave
from array import array
from functools import cache
from pathlib import Path

SAMPLE_RATE = 8000
BYTES_PER_MS = SAMPLE_RATE // 1000
FRAME_MS = 20
FRAME_BYTES = FRAME_MS * BYTES_PER_MS
SILENCE_BYTE = 0xFF

_BIAS = 0x84
_CLIP = 32635


def _encode_sample(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, _CLIP) + _BIAS
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _decode_byte(byte: int) -> int:
    byte = ~byte & 0xFF
    sign = byte & 0x80
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    sample = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return -sample if sign else sample


_DECODE_TABLE: tuple[int, ...] = tuple(_decode_byte(b) for b in range(256))
_ABS_TABLE: tuple[int, ...] = tuple(abs(v) for v in _DECODE_TABLE)


def ulaw_decode(data: bytes) -> array[int]:
    """Mu-law bytes to signed 16-bit PCM samples."""
    table = _DECODE_TABLE
    return array("h", (table[b] for b in data))


@cache
def _encode_table() -> bytes:
    # 64 KiB, ~80 ms to build: made on first use, not at import (call actors never encode).
    return bytes(_encode_sample(s - 32768) for s in range(65536))


def ulaw_encode(samples: array[int] | list[int]) -> bytes:
    """Signed 16-bit PCM samples to mu-law bytes."""
    table = _encode_table()
    return bytes(table[(max(-32768, min(32767, s)) + 32768)] for s in samples)


def mean_abs_level(data: bytes) -> float:
    """Mean absolute linear amplitude of a mu-law buffer (0 for empty input)."""
    if not data:
        return 0.0
    table = _ABS_TABLE
    return sum(table[b] for b in data) / len(data)


_ABS_HIGH = bytes(v >> 8 for v in _ABS_TABLE)
_ABS_LOW = bytes(v & 0xFF for v in _ABS_TABLE)


def fast_level(data: bytes) -> float:
    """Exactly `mean_abs_level`, with the per-byte work in C (`bytes.translate` and `sum` over
    bytes, through the high and low byte of |sample|): about twice as fast, for hot paths."""
    if not data:
        return 0.0
    return (sum(data.translate(_ABS_HIGH)) * 256 + sum(data.translate(_ABS_LOW))) / len(data)


def silence(ms: int) -> bytes:
    """Digital silence in mu-law."""
    return bytes([SILENCE_BYTE]) * (ms * BYTES_PER_MS)


def duration_ms(nbytes: int) -> int:
    """Playback length of `nbytes` of 8 kHz mu-law."""
    return nbytes // BYTES_PER_MS


def b64_decoded_len(payload: str) -> int:
    """Length in bytes of a base64 string's content, without decoding it."""
    n = len(payload)
    if n == 0:
        return 0
    pad = 2 if payload.endswith("==") else 1 if payload.endswith("=") else 0
    return n * 3 // 4 - pad


def speech_ms_for_text(text: str) -> int:
    """A plausible spoken length for `text`: about 14 characters a second, at least 400 ms."""
    return max(400, int(len(text.strip()) * 1000 / 14))


def speech_like(text: str, ms: int | None = None, level: int = 6000) -> bytes:
    """Deterministic speech-like mu-law audio for `text`.

    Voiced syllables (a harmonic tone under a raised-cosine envelope) separated by short gaps,
    so an energy VAD sees speech for the whole utterance and the payload differs per text.
    """
    total_ms = ms if ms is not None else speech_ms_for_text(text)
    seed = hashlib.sha256(text.encode()).digest()
    n = total_ms * BYTES_PER_MS
    samples = array("h", bytes(2 * n))
    syllable = 8 * 180  # 180 ms syllables
    gap = 8 * 40
    pos = 0
    k = 0
    while pos < n:
        f0 = 110 + seed[k % len(seed)] % 120
        length = min(syllable, n - pos)
        for i in range(length):
            env = 0.5 - 0.5 * math.cos(2 * math.pi * i / max(1, length))
            t = (pos + i) / SAMPLE_RATE
            v = math.sin(2 * math.pi * f0 * t) + 0.5 * math.sin(4 * math.pi * f0 * t)
            samples[pos + i] = int(level * env * v / 1.5)
        pos += length + gap
        k += 1
    return ulaw_encode(samples)


def frames(data: bytes, frame_bytes: int = FRAME_BYTES) -> list[bytes]:
    """Split audio into fixed-size frames, padding the last with silence."""
    out = [data[i : i + frame_bytes] for i in range(0, len(data), frame_bytes)]
    if out and len(out[-1]) < frame_bytes:
        out[-1] = out[-1] + bytes([SILENCE_BYTE]) * (frame_bytes - len(out[-1]))
    return out


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def load_wav_as_ulaw(path: Path) -> bytes:
    """Read a 16-bit PCM WAV (any rate, mono or stereo) as 8 kHz mono mu-law.

    Resampling is linear interpolation: good enough for test speech, not for music.
    """
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
        channels = wav.getnchannels()
        rate = wav.getframerate()
        raw = array("h", wav.readframes(wav.getnframes()))
    mono = raw if channels == 1 else array("h", raw[::channels])
    if rate == SAMPLE_RATE:
        return ulaw_encode(mono)
    out_len = int(len(mono) * SAMPLE_RATE / rate)
    step = rate / SAMPLE_RATE
    resampled = array("h", bytes(2 * out_len))
    last = len(mono) - 1
    for i in range(out_len):
        x = i * step
        j = int(x)
        frac = x - j
        a = mono[min(j, last)]
        b = mono[min(j + 1, last)]
        resampled[i] = int(a + (b - a) * frac)
    return ulaw_encode(resampled)
