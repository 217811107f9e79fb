"""What an ElevenLabs utterance says when: its audio chunks' character timings laid end to end,
and from them the words a caller heard before cutting in, and the text still to speak after a
dropped socket. Pure, no I/O.

ElevenLabs times each character relative to the audio chunk it came with; the audio is 8 kHz
mu-law (8 bytes a millisecond), so a chunk's place in the utterance is the audio before it.
The call state machine counts the same bytes per assistant item, so its `audio_end_ms` (what
the caller heard, from Twilio's marks) and these timings share one clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from engine.audio import BYTES_PER_MS
from engine.tts_codec import TtsAudio


@dataclass(frozen=True, slots=True)
class Utterance:
    """The characters spoken so far with their absolute start and end (ms), and the audio's
    length."""

    chars: str = ""
    starts_ms: tuple[int, ...] = ()
    ends_ms: tuple[int, ...] = ()
    audio_bytes: int = 0

    @property
    def audio_ms(self) -> int:
        return self.audio_bytes // BYTES_PER_MS


def add_chunk(utterance: Utterance, chunk: TtsAudio) -> Utterance:
    offset = utterance.audio_ms
    return replace(
        utterance,
        chars=utterance.chars + "".join(chunk.chars),
        starts_ms=utterance.starts_ms + tuple(offset + s for s in chunk.starts_ms),
        ends_ms=utterance.ends_ms
        + tuple(offset + s + d for s, d in zip(chunk.starts_ms, chunk.durations_ms, strict=True)),
        audio_bytes=utterance.audio_bytes + chunk.nbytes,
    )


def heard_text(utterance: Utterance, heard_ms: int) -> str:
    """The words fully played within the first `heard_ms` of the utterance: a word the caller
    heard only the start of is left out (the model must not believe it said it)."""
    n = 0
    while n < len(utterance.ends_ms) and utterance.ends_ms[n] <= heard_ms:
        n += 1
    text = utterance.chars[:n]
    if n < len(utterance.chars) and text and text[-1].isalnum() and utterance.chars[n].isalnum():
        cut = max(text.rfind(" "), text.rfind("\n"))
        text = text[: cut + 1] if cut >= 0 else ""
    return " ".join(text.split())


def unspoken(text: str, utterance: Utterance) -> str:
    """The part of `text` (all that was sent to be spoken) that has no audio yet: what a new
    socket must speak after a drop, so no word is said twice. A word whose audio stopped part
    way is spoken again whole. Whitespace may differ between what was sent and what came back,
    so the spoken characters are counted without it."""
    done = sum(1 for c in utterance.chars if not c.isspace())
    index = 0
    while index < len(text) and done > 0:
        if not text[index].isspace():
            done -= 1
        index += 1
    if 0 < index < len(text) and not text[index].isspace() and not text[index - 1].isspace():
        index = max(text.rfind(" ", 0, index), text.rfind("\n", 0, index)) + 1
    return text[index:].lstrip()
