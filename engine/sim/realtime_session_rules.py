"""What a `session.update` may change in a simulated OpenAI Realtime session. Pure (no I/O).

- `default_session`: the GA configuration a new session starts with.
- `apply_session_update`: validates a GA `session.update` payload against the current effective
  session and returns the new one, or raises `RequestError` carrying the error code, message
  and param the real API would send.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from engine.sim.realtime_validation import (
    RequestError,
    expect_bool,
    expect_enum,
    expect_keys,
    expect_number,
    expect_object,
    invalid_type,
)
from engine.sim.vad import AUDIO_FORMATS

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
TURN_DETECTION_TYPES = ("server_vad", "semantic_vad")
SEMANTIC_SILENCE_MS = 500  # the simulator's fixed end-of-turn silence for semantic_vad
DEFAULT_INSTRUCTIONS = "You are a helpful, witty, and friendly AI."

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


def _format(value: object, path: str) -> dict[str, Any]:
    fmt = expect_object(value, path)
    expect_keys(fmt, frozenset({"type", "rate"}), path)
    kind = expect_enum(fmt.get("type"), AUDIO_FORMATS, f"{path}.type")
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
    td = expect_object(value, path)
    if "type" not in td:
        raise RequestError(
            "missing_required_parameter",
            f"Missing required parameter: '{path}.type'.",
            f"{path}.type",
        )
    kind = expect_enum(td["type"], TURN_DETECTION_TYPES, f"{path}.type")
    expect_keys(td, _VAD_KEYS[kind], path)
    out: dict[str, Any] = {"type": kind, **_VAD_DEFAULTS[kind]}
    for key, val in td.items():
        where = f"{path}.{key}"
        if key == "threshold":
            out[key] = expect_number(val, where, 0.0, 1.0)
        elif key in ("prefix_padding_ms", "silence_duration_ms"):
            out[key] = int(expect_number(val, where, 0, 10_000))
        elif key == "idle_timeout_ms":
            out[key] = None if val is None else int(expect_number(val, where, 5000, 30_000))
        elif key in ("create_response", "interrupt_response"):
            out[key] = expect_bool(val, where)
        elif key == "eagerness":
            out[key] = expect_enum(val, ("low", "medium", "high", "auto"), where)
    return out


def _voice(value: object, path: str) -> str | dict[str, Any]:
    if isinstance(value, dict):
        expect_keys(value, frozenset({"id"}), path)
        if not isinstance(value.get("id"), str):
            raise invalid_type(f"{path}.id", "a string")
        return dict(value)
    return expect_enum(value, VOICES, path)


def _apply_audio(audio: dict[str, Any], update: object, *, voice_locked: bool) -> None:
    upd = expect_object(update, "session.audio")
    expect_keys(upd, frozenset({"input", "output"}), "session.audio")
    if "input" in upd:
        src, dst = expect_object(upd["input"], "session.audio.input"), audio["input"]
        expect_keys(src, _INPUT_KEYS, "session.audio.input")
        if "format" in src:
            dst["format"] = _format(src["format"], "session.audio.input.format")
        if "turn_detection" in src:
            dst["turn_detection"] = _turn_detection(
                src["turn_detection"], "session.audio.input.turn_detection"
            )
        for key in ("transcription", "noise_reduction"):
            if key in src:
                val = src[key]
                dst[key] = (
                    None if val is None else dict(expect_object(val, f"session.audio.input.{key}"))
                )
    if "output" in upd:
        src, dst = expect_object(upd["output"], "session.audio.output"), audio["output"]
        expect_keys(src, _OUTPUT_KEYS, "session.audio.output")
        if "format" in src:
            dst["format"] = _format(src["format"], "session.audio.output.format")
        if "speed" in src:
            dst["speed"] = expect_number(src["speed"], "session.audio.output.speed", 0.25, 1.5)
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
        raise invalid_type("session.tools", "an array")
    for i, tool in enumerate(value):
        path = f"session.tools[{i}]"
        expect_enum(expect_object(tool, path).get("type"), ("function", "mcp"), f"{path}.type")
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
    upd = expect_object(update, "session")
    expect_keys(upd, _SESSION_KEYS, "session")
    if "type" not in upd:
        raise RequestError(
            "missing_required_parameter",
            "Missing required parameter: 'session.type'.",
            "session.type",
        )
    expect_enum(upd["type"], ("realtime",), "session.type")
    new = copy.deepcopy(dict(current))
    for key, val in upd.items():
        if key == "instructions":
            if not isinstance(val, str):
                raise invalid_type("session.instructions", "a string")
            new[key] = val
        elif key == "output_modalities":
            if not isinstance(val, list) or len(val) != 1:
                raise RequestError(
                    "invalid_value",
                    "Invalid 'session.output_modalities': "
                    "expected exactly one of 'audio' or 'text'.",
                    "session.output_modalities",
                )
            new[key] = [expect_enum(val[0], ("audio", "text"), "session.output_modalities[0]")]
        elif key == "audio":
            _apply_audio(new["audio"], val, voice_locked=voice_locked)
        elif key == "tools":
            new[key] = _tools(val)
        elif key == "max_output_tokens":
            if val != "inf":
                new[key] = int(expect_number(val, "session.max_output_tokens", 1, 4096))
        elif key != "type":
            new[key] = copy.deepcopy(val)
    return new
