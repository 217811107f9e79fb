"""The audio a simulated OpenAI Realtime reply is spoken with. Pure (no I/O).

`render_reply_audio`: speech-like audio for a reply text in the session's output format, split
into base64 chunks once and cached, so hundreds of sessions replaying the same script cost
almost no CPU.
"""

from __future__ import annotations

import functools
import sys
from array import array
from dataclasses import dataclass

from engine.audio import b64, speech_like, ulaw_decode
from engine.sim.vad import BYTES_PER_MS


@dataclass(frozen=True, slots=True)
class RenderedAudio:
    chunks: tuple[str, ...]  # base64, chunk_ms each (the last may be shorter)
    chunk_ms: tuple[int, ...]
    total_ms: int


def _alaw_encode(pcm: int) -> int:
    pcm >>= 3
    mask = 0xD5
    if pcm < 0:
        mask, pcm = 0x55, -pcm - 1
    for seg, end in enumerate((0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)):
        if pcm <= end:
            low = (pcm >> 1) if seg < 2 else (pcm >> seg)
            return ((seg << 4) | (low & 0x0F)) ^ mask
    return 0x7F ^ mask


ULAW_TO_ALAW = bytes(_alaw_encode(s) for s in ulaw_decode(bytes(range(256))))


def transcode_ulaw(data: bytes, audio_format: str) -> bytes:
    """Mu-law 8 kHz to the session's output format (pcm: 24 kHz s16le by sample repetition)."""
    if audio_format == "audio/pcmu":
        return data
    if audio_format == "audio/pcma":
        return data.translate(ULAW_TO_ALAW)
    samples = ulaw_decode(data)
    out = array("h", bytes(6 * len(samples)))
    for phase in range(3):
        out[phase::3] = samples
    if sys.byteorder == "big":  # pragma: no cover
        out.byteswap()
    return out.tobytes()


@functools.lru_cache(maxsize=512)
def speech_for(text: str) -> bytes:
    """Speech-like mu-law for a reply text (real-time length of the text); cached."""
    return speech_like(text)


@functools.lru_cache(maxsize=512)
def render_reply_audio(text: str, audio_format: str, chunk_ms: int) -> RenderedAudio:
    data = transcode_ulaw(speech_for(text), audio_format)
    step = BYTES_PER_MS[audio_format] * chunk_ms
    pieces = [data[i : i + step] for i in range(0, len(data), step)]
    per_ms = BYTES_PER_MS[audio_format]
    return RenderedAudio(
        chunks=tuple(b64(p) for p in pieces),
        chunk_ms=tuple(len(p) // per_ms for p in pieces),
        total_ms=len(data) // per_ms,
    )
