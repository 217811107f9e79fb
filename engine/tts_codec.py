"""ElevenLabs streaming text-to-speech over WebSocket (`stream-input`): the wire codec. Sans-I/O.

The call actor speaks this protocol with `websockets` directly (the official SDK's helper is
sync-only and heavy), so this module is the single place its message shapes are written down:

- handshake `GET {base}/v1/text-to-speech/{voice_id}/stream-input?model_id=...&output_format=
  ulaw_8000&...` with the `xi-api-key` header;
- client: the initial message `{"text": " ", "voice_settings": {...}, "generation_config":
  {"chunk_length_schedule": [...]}}`, text chunks `{"text": "... ", "try_trigger_generation":
  true}` (each ending with a space), `{"text": " ", "flush": true}` to force out what is
  buffered, and `{"text": ""}` to end the stream;
- server: `{"audio": "<base64>", "alignment": {...}, "normalizedAlignment": {...}}` with per
  character timings relative to that chunk, `{"isFinal": true}` after the end of the stream,
  and on errors `{"message": ..., "error": ..., "code": ...}` before the socket closes
  (1008 for a refused key or an idle stream).

`output_format=ulaw_8000` is 8 kHz mu-law: exactly what Twilio plays, untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from engine.audio import b64_decoded_len

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
DEFAULT_MODEL = "eleven_flash_v2_5"
OUTPUT_FORMAT = "ulaw_8000"
INACTIVITY_TIMEOUT_S = 180  # the service's maximum: a caller may talk for a while between turns
# Small first chunks: the first words of an answer are synthesised as soon as they are written.
CHUNK_SCHEDULE = (50, 90, 120, 150)
SPLITTERS = (".", ",", "?", "!", ";", ":", "—", "-", "(", ")", "[", "]", "}", " ")


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    """An ElevenLabs voice's settings (stability, similarity and speed as the service names
    them)."""

    stability: float = 0.5
    similarity_boost: float = 0.75
    speed: float = 1.0

    def wire(self) -> dict[str, float]:
        return {
            "stability": self.stability,
            "similarity_boost": self.similarity_boost,
            "speed": self.speed,
        }


def stream_input_url(
    base_url: str, voice_id: str, model_id: str, *, inactivity_timeout: int = INACTIVITY_TIMEOUT_S
) -> str:
    """The socket URL for `voice_id`, from the HTTP base URL (http -> ws, https -> wss)."""
    if not voice_id:
        raise ValueError("an ElevenLabs voice id is required")
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/") + f"/v1/text-to-speech/{quote(voice_id, safe='')}/stream-input"
    query = urlencode(
        {
            "model_id": model_id,
            "output_format": OUTPUT_FORMAT,
            "inactivity_timeout": inactivity_timeout,
            "sync_alignment": "true",
        }
    )
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def voices_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/v1/voices"


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def init_message(settings: VoiceSettings) -> str:
    """The first message of a stream: a single space, the voice settings, the chunk schedule
    (the key travels in the handshake's `xi-api-key` header, not in a message)."""
    return _dumps(
        {
            "text": " ",
            "voice_settings": settings.wire(),
            "generation_config": {"chunk_length_schedule": list(CHUNK_SCHEDULE)},
        }
    )


def text_message(text: str) -> str:
    """A chunk of text to speak; the service wants each chunk to end with a space."""
    if not text.endswith(" "):
        text += " "
    return _dumps({"text": text, "try_trigger_generation": True})


def flush_message() -> str:
    return _dumps({"text": " ", "flush": True})


def close_message() -> str:
    """End of input: the service speaks what is buffered, sends `isFinal`, and closes."""
    return _dumps({"text": ""})


class TextChunker:
    """Cuts a model's text deltas into chunks that end at a word or punctuation boundary, as the
    service expects (a word split over two chunks would be spoken as two)."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, delta: str) -> str | None:
        """The text ready to send after `delta`, or None while it ends inside a word."""
        self._buffer += delta
        cut = max(self._buffer.rfind(s) for s in SPLITTERS)
        if cut < 0:
            return None
        ready, self._buffer = self._buffer[: cut + 1], self._buffer[cut + 1 :]
        return ready if ready.strip() else None

    def rest(self) -> str | None:
        ready, self._buffer = self._buffer, ""
        return ready if ready.strip() else None


# --- server messages --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TtsAudio:
    """A chunk of audio (base64 mu-law) and the characters it speaks, each with its start and
    duration in ms relative to the chunk."""

    audio: str
    nbytes: int
    chars: tuple[str, ...] = ()
    starts_ms: tuple[int, ...] = ()
    durations_ms: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class TtsFinal:
    """The stream spoke everything it was given and will close."""


@dataclass(frozen=True, slots=True)
class TtsFailure:
    """The service reported an error (the socket closes after it)."""

    message: str
    error: str = ""
    code: int = 0


TtsEvent = TtsAudio | TtsFinal | TtsFailure


def _ints(value: object) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(int(v) for v in value if isinstance(v, int | float) and not isinstance(v, bool))


def _alignment(value: object) -> tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
    if not isinstance(value, dict):
        return (), (), ()
    raw = value.get("chars")
    chars = tuple(c for c in raw if isinstance(c, str)) if isinstance(raw, list) else ()
    starts = _ints(value.get("charStartTimesMs", value.get("charsStartTimesMs")))
    # the service's WebSocket writes charsDurationsMs; its SDK's schema says charDurationsMs
    durations = _ints(value.get("charsDurationsMs", value.get("charDurationsMs")))
    if not len(chars) == len(starts) == len(durations):
        return (), (), ()
    return chars, starts, durations


def decode(frame: str | bytes) -> TtsEvent | None:
    """One server message; None for messages with nothing to act on (an empty audio chunk).
    Raises ValueError for frames that are not JSON objects."""
    try:
        msg = json.loads(frame)
    except (ValueError, RecursionError):
        raise ValueError("ElevenLabs frame is not JSON") from None
    if not isinstance(msg, dict):
        raise ValueError("ElevenLabs frame is not an object")
    audio = msg.get("audio")
    if isinstance(audio, str) and audio:
        # the original text's timings: the normalised text ("$5" -> "five dollars") is not
        # what the model wrote, and the heard part of what it wrote is what matters
        chars, starts, durations = _alignment(msg.get("alignment"))
        return TtsAudio(audio, b64_decoded_len(audio), chars, starts, durations)
    if msg.get("isFinal") is True:
        return TtsFinal()
    message = msg.get("message")
    if isinstance(message, str) and message:
        code = msg.get("code")
        error = msg.get("error")
        return TtsFailure(
            message,
            error if isinstance(error, str) else "",
            code if isinstance(code, int) else 0,
        )
    return None
