"""OpenAI Realtime (GA) wire codec: client event builders and server event decoding. Sans-I/O.

The call actor speaks the realtime protocol with `websockets` directly (the official SDK costs
about 20 MB per process, see ARCHITECTURE.md), so this module is the single place the GA event
shapes are written down. Server events the engine does not act on decode to `None`; dispatch is
on `type`, never on classes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from engine.config import VadConfig
from engine.wire_text import json_plain

# one encoder for every event: `json.dumps` with non-default arguments builds a new one per call
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def realtime_url(base_url: str, model: str) -> str:
    """The socket URL exactly as the `openai` SDK derives it from `base_url`:
    http -> ws, https -> wss, path + '/realtime', query `model=...`."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/") + "/realtime"
    query = urlencode({"model": model})
    if parts.query:
        query = parts.query + "&" + query
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def _dumps(event: dict[str, Any]) -> str:
    return _ENCODER.encode(event)


def turn_detection(vad: VadConfig) -> dict[str, Any]:
    """The model detects turns but neither answers nor stops on its own: the engine decides
    both (engine.turn_taking), so a cough or an "uh-huh" does not cut the agent off."""
    if vad.type == "semantic_vad":
        return {
            "type": "semantic_vad",
            "eagerness": vad.eagerness,
            "create_response": False,
            "interrupt_response": False,
        }
    return {
        "type": "server_vad",
        "threshold": vad.threshold,
        "prefix_padding_ms": vad.prefix_padding_ms,
        "silence_duration_ms": vad.silence_duration_ms,
        "create_response": False,
        "interrupt_response": False,
    }


def session_update(
    *,
    instructions: str,
    voice: str,
    vad: VadConfig,
    tools: list[dict[str, Any]] | None = None,
    text_only: bool = False,
) -> str:
    """`session.update` for a phone call: G.711 mu-law in and out, untouched. With `text_only`
    the model still hears the caller (VAD, transcription, tools) but answers in text, which an
    outside voice speaks (actors/tts_voice.py)."""
    session: dict[str, Any] = {
        "type": "realtime",
        "instructions": instructions,
        "output_modalities": ["text" if text_only else "audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcmu"},
                "turn_detection": turn_detection(vad),
                "transcription": {"model": "gpt-4o-mini-transcribe"},
                "noise_reduction": (
                    None if vad.noise_reduction == "off" else {"type": vad.noise_reduction}
                ),
            },
            "output": {"format": {"type": "audio/pcmu"}, "voice": voice},
        },
    }
    if tools:
        session["tools"] = tools
        session["tool_choice"] = "auto"
    return _dumps({"type": "session.update", "session": session})


def session_instructions(*, instructions: str, tools: list[dict[str, Any]]) -> str:
    """A partial `session.update`: new instructions and tools, the audio set-up untouched
    (the voice cannot change once the model has spoken)."""
    session: dict[str, Any] = {"type": "realtime", "instructions": instructions, "tools": tools}
    session["tool_choice"] = "auto" if tools else "none"
    return _dumps({"type": "session.update", "session": session})


def own_voice(voice: str) -> str:
    """A partial `session.update`: answer in the model's own voice from now on (an outside
    voice failed; the voice may still be set, the model has not spoken audio)."""
    session = {
        "type": "realtime",
        "output_modalities": ["audio"],
        "audio": {"output": {"format": {"type": "audio/pcmu"}, "voice": voice}},
    }
    return _dumps({"type": "session.update", "session": session})


def audio_append(payload: str) -> str:
    """Caller audio for the model: spliced (the audio fast path) when the payload needs no
    escaping, as a base64 payload never does."""
    if json_plain(payload):
        return '{"type":"input_audio_buffer.append","audio":"' + payload + '"}'
    return _dumps({"type": "input_audio_buffer.append", "audio": payload})


def response_create(instructions: str | None = None) -> str:
    if instructions is None:
        return _dumps({"type": "response.create"})
    return _dumps({"type": "response.create", "response": {"instructions": instructions}})


def response_cancel() -> str:
    return _dumps({"type": "response.cancel"})


def item_truncate(item_id: str, audio_end_ms: int) -> str:
    return _dumps(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": audio_end_ms,
        }
    )


def conversation_text(role: str, text: str) -> str:
    """A message item for replaying history into a new session (user or assistant)."""
    kind = "output_text" if role == "assistant" else "input_text"
    return _dumps(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": role, "content": [{"type": kind, "text": text}]},
        }
    )


def assistant_text_after(previous_item_id: str, text: str) -> str:
    """An assistant message placed right after `previous_item_id` (what the caller heard of an
    answer spoken by an outside voice, replacing that answer)."""
    return _dumps(
        {
            "type": "conversation.item.create",
            "previous_item_id": previous_item_id,
            "item": {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text}],
            },
        }
    )


def assistant_text(item_id: str, text: str) -> str:
    """An assistant message with our own item id (a greeting an outside voice speaks)."""
    return _dumps(
        {
            "type": "conversation.item.create",
            "item": {
                "id": item_id,
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text}],
            },
        }
    )


def item_delete(item_id: str) -> str:
    return _dumps({"type": "conversation.item.delete", "item_id": item_id})


def function_call_output(call_id: str, output: str) -> str:
    return _dumps(
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": call_id, "output": output},
        }
    )


def user_text(text: str) -> str:
    return _dumps(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            },
        }
    )


# --- server events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionUpdated:
    pass


@dataclass(frozen=True, slots=True)
class AudioDelta:
    response_id: str
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    """Text of an answer in text mode (an outside voice speaks it)."""

    response_id: str
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class AgentWords:
    """Words of the transcript of an answer in the model's own voice, as it streams (checked
    by engine.advice_guard; the whole transcript comes in AgentTranscript)."""

    response_id: str
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    audio_start_ms: int
    item_id: str


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    audio_end_ms: int
    item_id: str = ""


@dataclass(frozen=True, slots=True)
class ResponseCreated:
    response_id: str


@dataclass(frozen=True, slots=True)
class ResponseDone:
    response_id: str
    status: str


@dataclass(frozen=True, slots=True)
class CallerTranscript:
    item_id: str
    text: str


@dataclass(frozen=True, slots=True)
class AgentTranscript:
    response_id: str
    item_id: str
    text: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ServerError:
    code: str
    message: str
    type: str


ServerEvent = (
    SessionUpdated
    | AudioDelta
    | TextDelta
    | AgentWords
    | SpeechStarted
    | SpeechStopped
    | ResponseCreated
    | ResponseDone
    | CallerTranscript
    | AgentTranscript
    | FunctionCall
    | ServerError
)

# Errors that follow from races inherent to the protocol (the server cancelled on its own before
# our cancel arrived); they change nothing and are not failures.
BENIGN_ERROR_CODES = frozenset({"response_cancel_not_active"})


def _s(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def decode_server_event(text: str | bytes) -> ServerEvent | None:
    """Decode one server frame; `None` for events the engine does not act on.
    Raises ValueError for frames that are not JSON objects with a `type`."""
    try:
        msg = json.loads(text)
    except RecursionError:
        raise ValueError("realtime frame nested too deeply") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ValueError("realtime frame without a type")
    kind: str = msg["type"]
    if kind == "response.output_audio.delta":
        return AudioDelta(_s(msg, "response_id"), _s(msg, "item_id"), _s(msg, "delta"))
    if kind == "response.output_text.delta":
        return TextDelta(_s(msg, "response_id"), _s(msg, "item_id"), _s(msg, "delta"))
    if kind == "response.output_audio_transcript.delta":
        return AgentWords(_s(msg, "response_id"), _s(msg, "item_id"), _s(msg, "delta"))
    if kind == "input_audio_buffer.speech_started":
        start = msg.get("audio_start_ms", 0)
        return SpeechStarted(int(start) if isinstance(start, int) else 0, _s(msg, "item_id"))
    if kind == "input_audio_buffer.speech_stopped":
        end = msg.get("audio_end_ms", 0)
        return SpeechStopped(int(end) if isinstance(end, int) else 0, _s(msg, "item_id"))
    if kind == "response.created":
        response = msg.get("response") or {}
        return ResponseCreated(_s(response, "id") if isinstance(response, dict) else "")
    if kind == "response.done":
        response = msg.get("response") or {}
        if not isinstance(response, dict):
            response = {}
        return ResponseDone(_s(response, "id"), _s(response, "status"))
    if kind == "conversation.item.input_audio_transcription.completed":
        return CallerTranscript(_s(msg, "item_id"), _s(msg, "transcript"))
    if kind == "response.output_audio_transcript.done":
        return AgentTranscript(_s(msg, "response_id"), _s(msg, "item_id"), _s(msg, "transcript"))
    if kind == "response.output_text.done":
        return AgentTranscript(_s(msg, "response_id"), _s(msg, "item_id"), _s(msg, "text"))
    if kind == "response.function_call_arguments.done":
        return FunctionCall(_s(msg, "call_id"), _s(msg, "name"), _s(msg, "arguments"))
    if kind == "session.updated":
        return SessionUpdated()
    if kind == "error":
        err = msg.get("error") or {}
        if not isinstance(err, dict):
            err = {}
        return ServerError(_s(err, "code"), _s(err, "message"), _s(err, "type"))
    return None
