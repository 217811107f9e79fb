"""Pure parts of the OpenAI Realtime simulator: scripts, protocol rules, reply audio.

No I/O. `engine.sim.realtime` (the WebSocket server) uses these to decide what a simulated
session hears and says:

- `Script` / `Reply`: what the caller "said" (transcripts, in order) and what the model answers.
- `apply_session_update`: validates a GA `session.update` payload against the current
  effective session and returns the new one, or raises `RequestError` carrying the error code,
  message and param the real API would send.
- `normalize_client_item`: the same for `conversation.item.create` items.
- `render_reply_audio`: speech-like audio for a reply text in the session's output format,
  split into base64 chunks once and cached, so hundreds of sessions replaying the same script
  cost almost no CPU.
"""

from __future__ import annotations

import copy
import functools
import sys
import time
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.audio import b64, speech_like, ulaw_decode
from engine.sim.vad import AUDIO_FORMATS, BYTES_PER_MS

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
TURN_DETECTION_TYPES = ("server_vad", "semantic_vad")
SEMANTIC_SILENCE_MS = 500  # the simulator's fixed end-of-turn silence for semantic_vad
INAUDIBLE = "(inaudible)"
FALLBACK_REPLY = "I understand. Is there anything else I can help you with?"
DEFAULT_INSTRUCTIONS = "You are a helpful, witty, and friendly AI."


@dataclass(frozen=True, slots=True)
class Reply:
    """One model turn. With `function` set the model calls that tool with `arguments` (the raw
    JSON string sent to the client, possibly invalid on purpose); a non-empty `text` is then
    spoken first, in the same response."""

    text: str = ""
    function: str | None = None
    arguments: str = "{}"


@dataclass(frozen=True, slots=True)
class Script:
    """What a simulated session hears (`transcripts`, one per user turn) and says (`replies`,
    one per response not forced by quoted instructions)."""

    transcripts: tuple[str, ...] = ()
    replies: tuple[Reply, ...] = ()


class RequestError(Exception):
    """A client event the real API would answer with an `error` event (session stays open)."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


# --- scripts -----------------------------------------------------------------------------


def script_from_json(data: object) -> tuple[str, Script]:
    """Parse a control-channel message `{"match", "transcripts", "replies"}`; ValueError if bad."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    match = data.get("match")
    if not isinstance(match, str):
        raise ValueError("'match' must be a string")
    transcripts = data.get("transcripts", [])
    if not isinstance(transcripts, list) or not all(isinstance(t, str) for t in transcripts):
        raise ValueError("'transcripts' must be a list of strings")
    raw_replies = data.get("replies", [])
    if not isinstance(raw_replies, list):
        raise ValueError("'replies' must be a list")
    replies: list[Reply] = []
    for i, raw in enumerate(raw_replies):
        if not isinstance(raw, dict) or set(raw) - {"text", "function", "arguments"}:
            raise ValueError(f"replies[{i}] must be an object with text/function/arguments")
        text, function, arguments = (
            raw.get("text", ""),
            raw.get("function"),
            raw.get("arguments", "{}"),
        )
        if not isinstance(text, str) or not isinstance(arguments, str):
            raise ValueError(f"replies[{i}]: 'text' and 'arguments' must be strings")
        if function is not None and not isinstance(function, str):
            raise ValueError(f"replies[{i}]: 'function' must be a string")
        replies.append(Reply(text=text, function=function, arguments=arguments))
    return match, Script(transcripts=tuple(transcripts), replies=tuple(replies))


def script_to_json(match: str, script: Script) -> dict[str, Any]:
    replies: list[dict[str, str]] = []
    for reply in script.replies:
        entry = {"text": reply.text}
        if reply.function is not None:
            entry |= {"function": reply.function, "arguments": reply.arguments}
        replies.append(entry)
    return {"match": match, "transcripts": list(script.transcripts), "replies": replies}


def quoted_reply(instructions: object) -> str | None:
    """Text between the first and last double quote of response instructions, if any."""
    if not isinstance(instructions, str):
        return None
    first, last = instructions.find('"'), instructions.rfind('"')
    return instructions[first + 1 : last] if last > first >= 0 else None


# --- reply audio ---------------------------------------------------------------------------


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


# --- session configuration ----------------------------------------------------------------

_SESSION_KEYS = frozenset(
    [
        "type",
        "model",
        "instructions",
        "output_modalities",
        "audio",
        "tools",
        "tool_choice",
        "max_output_tokens",
        "tracing",
        "truncation",
        "prompt",
        "include",
        "reasoning",
        "parallel_tool_calls",
    ]
)
_INPUT_KEYS = frozenset({"format", "noise_reduction", "transcription", "turn_detection"})
_OUTPUT_KEYS = frozenset({"format", "voice", "speed"})
_VAD_KEYS = {
    "server_vad": frozenset(
        [
            "type",
            "threshold",
            "prefix_padding_ms",
            "silence_duration_ms",
            "create_response",
            "interrupt_response",
            "idle_timeout_ms",
        ]
    ),
    "semantic_vad": frozenset({"type", "eagerness", "create_response", "interrupt_response"}),
}
_VAD_DEFAULTS: dict[str, dict[str, Any]] = {
    "server_vad": {
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    },
    "semantic_vad": {"eagerness": "auto", "create_response": True, "interrupt_response": True},
}


def default_session(session_id: str, model: str) -> dict[str, Any]:
    """The effective configuration a new session starts with (as in `session.created`)."""
    pcm24k = {"type": "audio/pcm", "rate": 24000}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "include": None,
        "expires_at": int(time.time()) + 3600,
        "audio": {
            "input": {
                "format": dict(pcm24k),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {"type": "server_vad", **_VAD_DEFAULTS["server_vad"]},
            },
            "output": {"format": dict(pcm24k), "voice": "alloy", "speed": 1.0},
        },
    }


def _fail_type(path: str, expected: str) -> RequestError:
    return RequestError("invalid_type", f"Invalid type for '{path}': expected {expected}.", path)


def _obj(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail_type(path, "an object")
    return value


def _keys(obj: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    for key in obj:
        if key not in allowed:
            raise RequestError(
                "unknown_parameter", f"Unknown parameter: '{path}.{key}'.", f"{path}.{key}"
            )


def _enum(value: object, allowed: tuple[str, ...], path: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        options = ", ".join(f"'{a}'" for a in allowed)
        raise RequestError(
            "invalid_value", f"Invalid value: '{value}'. Supported values are: {options}.", path
        )
    return value


def _number(value: object, path: str, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail_type(path, "a number")
    if value < low or (high is not None and value > high):
        raise RequestError("invalid_value", f"Invalid '{path}': {value} is out of range.", path)
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail_type(path, "a boolean")
    return value


def _format(value: object, path: str) -> dict[str, Any]:
    fmt = _obj(value, path)
    _keys(fmt, frozenset({"type", "rate"}), path)
    kind = _enum(fmt.get("type"), AUDIO_FORMATS, f"{path}.type")
    if kind != "audio/pcm":
        if "rate" in fmt:
            raise RequestError(
                "unknown_parameter", f"Unknown parameter: '{path}.rate'.", f"{path}.rate"
            )
        return {"type": kind}
    if fmt.get("rate", 24000) != 24000:
        raise RequestError(
            "invalid_value", f"Invalid '{path}.rate': only 24000 is supported.", f"{path}.rate"
        )
    return {"type": kind, "rate": 24000}


def _turn_detection(value: object, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    td = _obj(value, path)
    if "type" not in td:
        raise RequestError(
            "missing_required_parameter",
            f"Missing required parameter: '{path}.type'.",
            f"{path}.type",
        )
    kind = _enum(td["type"], TURN_DETECTION_TYPES, f"{path}.type")
    _keys(td, _VAD_KEYS[kind], path)
    out: dict[str, Any] = {"type": kind, **_VAD_DEFAULTS[kind]}
    for key, val in td.items():
        where = f"{path}.{key}"
        if key == "threshold":
            out[key] = _number(val, where, 0.0, 1.0)
        elif key in ("prefix_padding_ms", "silence_duration_ms"):
            out[key] = int(_number(val, where, 0, 10_000))
        elif key == "idle_timeout_ms":
            out[key] = None if val is None else int(_number(val, where, 5000, 30_000))
        elif key in ("create_response", "interrupt_response"):
            out[key] = _bool(val, where)
        elif key == "eagerness":
            out[key] = _enum(val, ("low", "medium", "high", "auto"), where)
    return out


def _voice(value: object, path: str) -> str | dict[str, Any]:
    if isinstance(value, dict):
        _keys(value, frozenset({"id"}), path)
        if not isinstance(value.get("id"), str):
            raise _fail_type(f"{path}.id", "a string")
        return dict(value)
    return _enum(value, VOICES, path)


def _apply_audio(audio: dict[str, Any], update: object, *, voice_locked: bool) -> None:
    upd = _obj(update, "session.audio")
    _keys(upd, frozenset({"input", "output"}), "session.audio")
    if "input" in upd:
        src, dst = _obj(upd["input"], "session.audio.input"), audio["input"]
        _keys(src, _INPUT_KEYS, "session.audio.input")
        if "format" in src:
            dst["format"] = _format(src["format"], "session.audio.input.format")
        if "turn_detection" in src:
            dst["turn_detection"] = _turn_detection(
                src["turn_detection"], "session.audio.input.turn_detection"
            )
        for key in ("transcription", "noise_reduction"):
            if key in src:
                val = src[key]
                dst[key] = None if val is None else dict(_obj(val, f"session.audio.input.{key}"))
    if "output" in upd:
        src, dst = _obj(upd["output"], "session.audio.output"), audio["output"]
        _keys(src, _OUTPUT_KEYS, "session.audio.output")
        if "format" in src:
            dst["format"] = _format(src["format"], "session.audio.output.format")
        if "speed" in src:
            dst["speed"] = _number(src["speed"], "session.audio.output.speed", 0.25, 1.5)
        if "voice" in src:
            voice = _voice(src["voice"], "session.audio.output.voice")
            if voice_locked and voice != dst["voice"]:
                raise RequestError(
                    "cannot_update_voice",
                    "Cannot update a conversation's voice if assistant audio is present.",
                    "session.audio.output.voice",
                )
            dst["voice"] = voice


def _tools(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _fail_type("session.tools", "an array")
    for i, tool in enumerate(value):
        path = f"session.tools[{i}]"
        _enum(_obj(tool, path).get("type"), ("function", "mcp"), f"{path}.type")
        if tool["type"] == "function" and not isinstance(tool.get("name"), str):
            raise RequestError(
                "missing_required_parameter",
                f"Missing required parameter: '{path}.name'.",
                f"{path}.name",
            )
    return copy.deepcopy(value)


def apply_session_update(
    current: Mapping[str, Any], update: object, *, voice_locked: bool
) -> dict[str, Any]:
    """The effective session after `update` (fields present replace, nested audio merges)."""
    upd = _obj(update, "session")
    _keys(upd, _SESSION_KEYS, "session")
    if "type" not in upd:
        raise RequestError(
            "missing_required_parameter",
            "Missing required parameter: 'session.type'.",
            "session.type",
        )
    _enum(upd["type"], ("realtime",), "session.type")
    new = copy.deepcopy(dict(current))
    for key, val in upd.items():
        if key == "instructions":
            if not isinstance(val, str):
                raise _fail_type("session.instructions", "a string")
            new[key] = val
        elif key == "output_modalities":
            if not isinstance(val, list) or len(val) != 1:
                raise RequestError(
                    "invalid_value",
                    "Invalid 'session.output_modalities': "
                    "expected exactly one of 'audio' or 'text'.",
                    "session.output_modalities",
                )
            new[key] = [_enum(val[0], ("audio", "text"), "session.output_modalities[0]")]
        elif key == "audio":
            _apply_audio(new["audio"], val, voice_locked=voice_locked)
        elif key == "tools":
            new[key] = _tools(val)
        elif key == "max_output_tokens":
            if val != "inf":
                new[key] = int(_number(val, "session.max_output_tokens", 1, 4096))
        elif key != "type":
            new[key] = copy.deepcopy(val)
    return new


# --- conversation items -------------------------------------------------------------------

_ITEM_KEYS = frozenset(
    ["id", "type", "object", "status", "role", "content", "call_id", "name", "arguments", "output"]
)
_CONTENT_TYPES = {
    "user": ("input_text", "input_audio", "input_image"),
    "system": ("input_text",),
    "assistant": ("output_text",),
}


def _string(obj: Mapping[str, Any], key: str, path: str) -> str:
    if key not in obj:
        raise RequestError(
            "missing_required_parameter",
            f"Missing required parameter: '{path}.{key}'.",
            f"{path}.{key}",
        )
    if not isinstance(obj[key], str):
        raise _fail_type(f"{path}.{key}", "a string")
    value: str = obj[key]
    return value


def normalize_client_item(item: object, item_id: str) -> dict[str, Any]:
    """Validate a `conversation.item.create` item; return it as the server stores it."""
    raw = _obj(item, "item")
    _keys(raw, _ITEM_KEYS, "item")
    kind = _enum(raw.get("type"), ("message", "function_call", "function_call_output"), "item.type")
    out: dict[str, Any] = {
        "id": item_id,
        "object": "realtime.item",
        "type": kind,
        "status": "completed",
    }
    if kind == "function_call":
        out |= {
            "name": _string(raw, "name", "item"),
            "call_id": _string(raw, "call_id", "item"),
            "arguments": raw.get("arguments", "{}"),
        }
        if not isinstance(out["arguments"], str):
            raise _fail_type("item.arguments", "a string")
        return out
    if kind == "function_call_output":
        return out | {
            "call_id": _string(raw, "call_id", "item"),
            "output": _string(raw, "output", "item"),
        }
    role = _enum(raw.get("role"), ("user", "assistant", "system"), "item.role")
    content = raw.get("content")
    if not isinstance(content, list):
        raise _fail_type("item.content", "an array")
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        path = f"item.content[{i}]"
        part_type = _enum(_obj(part, path).get("type"), _CONTENT_TYPES[role], f"{path}.type")
        if part_type in ("input_text", "output_text"):
            parts.append({"type": part_type, "text": _string(part, "text", path)})
        else:
            parts.append(
                {
                    k: v
                    for k, v in part.items()
                    if k in ("type", "audio", "transcript", "image_url", "detail")
                }
            )
    return out | {"role": role, "content": parts}
