"""How the ElevenLabs simulator cuts speech into messages: CHUNK_MS of audio each, with the
character timings (`alignment`) of the text it speaks. Pure (no I/O).
"""

from __future__ import annotations

import base64
from typing import Any

from engine.audio import BYTES_PER_MS

CHUNK_MS = 500  # audio per message


def _alignment(text: str, total_ms: int) -> tuple[list[int], list[int]]:
    """Character starts and durations over `total_ms`: letters weigh 2, others 1."""
    weights = [2 if c.isalnum() else 1 for c in text]
    unit = total_ms / max(1, sum(weights))
    starts, durations, at = [], [], 0.0
    for w in weights:
        starts.append(round(at))
        durations.append(max(1, round(w * unit)))
        at += w * unit
    return starts, durations


def chunk_messages(text: str, audio: bytes) -> list[dict[str, Any]]:
    """`audio` (speaking `text`) as the service's messages: CHUNK_MS of audio each, with the
    characters whose start falls in it, timed relative to the chunk."""
    total_ms = len(audio) // BYTES_PER_MS
    starts, durations = _alignment(text, total_ms)
    step = CHUNK_MS * BYTES_PER_MS
    messages = []
    for offset in range(0, len(audio), step):
        lo, hi = offset // BYTES_PER_MS, (offset + step) // BYTES_PER_MS
        last = offset + step >= len(audio)
        idx = [i for i, s in enumerate(starts) if lo <= s < hi or (last and s >= hi)]
        align = {
            "chars": [text[i] for i in idx],
            "charStartTimesMs": [starts[i] - lo for i in idx],
            "charsDurationsMs": [durations[i] for i in idx],
        }
        messages.append(
            {
                "audio": base64.b64encode(audio[offset : offset + step]).decode(),
                "alignment": align,
                "normalizedAlignment": align,
            }
        )
    return messages
