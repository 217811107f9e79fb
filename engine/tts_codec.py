"""ElevenLabs streaming text-to-speech over WebSocket (`multi-stream-input`): the wire codec.
Sans-I/O.

The call actor speaks this protocol with `websockets` directly (the official SDK only describes
its messages, `elevenlabs.v_1_text_to_speech_voice_id_multi_stream_input`), so this module is the
single place its message shapes are written down. One socket carries a call's generations, each
a context of its own:

- handshake `GET {base}/v1/text-to-speech/{voice_id}/multi-stream-input?model_id=...&
  output_format=ulaw_8000&...` with the `xi-api-key` header;
- client, every message naming its `context_id`: a context's first message `{"text": " ",
  "context_id", "voice_settings": {...}, "generation_config": {"chunk_length_schedule": [...]}}`,
  text `{"text": "... ", "context_id"}` (each ending with a space), `{"text": " ", "context_id",
  "flush": true}` to force out what is buffered, `{"context_id", "close_context": true}` to end
  a context (after a flush it finishes speaking first; otherwise it stops), and `{"close_socket":
  true}` to end them all;
- server: `{"audio": "<base64>", "alignment": {...}, "normalizedAlignment": {...}, "contextId"}`
  with per character timings relative to that chunk, `{"isFinal": true, "contextId"}` once a
  context is closed, and on errors `{"message": ..., "error": ..., "code": ...}` before the
  socket closes (1008 for a refused key, an unknown voice, too many contexts or an idle socket).
  The service has been seen to spell `contextId` and `isFinal` in snake case too; both are read.

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


def multi_stream_url(
    base_url: str, voice_id: str, model_id: str, *, inactivity_timeout: int = INACTIVITY_TIMEOUT_S
) -> str:
    """The socket URL for `voice_id`, from the HTTP base URL (http -> ws, https -> wss)."""
    if not voice_id:
        raise ValueError("an ElevenLabs voice id is required")
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    voice = quote(voice_id, safe="")
    path = parts.path.rstrip("/") + f"/v1/text-to-speech/{voice}/multi-stream-input"
    query = urlencode(
        {
            "model_id": model_id,
            "output_format": OUTPUT_FORMAT,
            "inactivity_timeout": inactivity_timeout,
            "sync_alignment": "true",
        }
    )
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def init_message(context_id: str, settings: VoiceSettings) -> str:
    """A context's first message: a single space, the voice settings, the chunk schedule (the
    key travels in the handshake's `xi-api-key` header, not in a message)."""
    return _dumps(
        {
            "text": " ",
            "context_id": context_id,
            "voice_settings": settings.wire(),
            "generation_config": {"chunk_length_schedule": list(CHUNK_SCHEDULE)},
        }
    )


def text_message(context_id: str, text: str) -> str:
    """A chunk of text to speak; the service wants each chunk to end with a space."""
    if not text.endswith(" "):
        text += " "
    return _dumps({"text": text, "context_id": context_id})


def flush_message(context_id: str) -> str:
    """Speak what the context has buffered now, whatever the chunk schedule says."""
    return _dumps({"text": " ", "context_id": context_id, "flush": True})


def close_context_message(context_id: str) -> str:
    """End a context: after a flush the service speaks the rest first, else it stops at once;
    either way `isFinal` follows."""
    return _dumps({"context_id": context_id, "close_context": True})


def close_socket_message() -> str:
    """End every context and the socket."""
    return _dumps({"close_socket": True})


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
    context_id: str = ""


@dataclass(frozen=True, slots=True)
class TtsFinal:
    """The context is closed: nothing more comes for it."""

    context_id: str = ""


@dataclass(frozen=True, slots=True)
class TtsFailure:
    """The service reported an error (the socket closes after it)."""

    message: str
    error: str = ""
    code: int = 0
    context_id: str = ""


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
    context = msg.get("contextId", msg.get("context_id"))
    context_id = context if isinstance(context, str) else ""
    audio = msg.get("audio")
    if isinstance(audio, str) and audio:
        # the original text's timings: the normalised text ("$5" -> "five dollars") is not
        # what the model wrote, and the heard part of what it wrote is what matters
        chars, starts, durations = _alignment(msg.get("alignment"))
        return TtsAudio(audio, b64_decoded_len(audio), chars, starts, durations, context_id)
    if msg.get("isFinal", msg.get("is_final")) is True:
        return TtsFinal(context_id)
    message = msg.get("message")
    if isinstance(message, str) and message:
        code = msg.get("code")
        error = msg.get("error")
        return TtsFailure(
            message,
            error if isinstance(error, str) else "",
            code if isinstance(code, int) else 0,
            context_id,
        )
    return None
