"""OpenAI Realtime codec against the installed `openai` SDK: its URL derivation and its GA models.

The SDK is only consulted, never connected: its websocket factory is replaced by one that
records the URL and refuses, so `connect().__aenter__()` runs the SDK's own derivation.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai
import openai.lib._websocket as sdk_websocket
import pytest
from openai.types.realtime import (
    ConversationItemCreateEvent,
    ConversationItemTruncateEvent,
    InputAudioBufferAppendEvent,
    ResponseCancelEvent,
    ResponseCreateEvent,
    SessionUpdateEvent,
)
from openai.types.realtime.realtime_server_event import RealtimeServerEvent
from pydantic import BaseModel, TypeAdapter

from engine import realtime_codec as rt
from engine.config import VadConfig

# --- realtime_url vs the SDK ------------------------------------------------------------------


class _Captured(Exception):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def _capture_connect(url: str, **_: object) -> Coroutine[Any, Any, None]:
    async def refuse() -> None:
        raise _Captured(url)

    return refuse()


async def sdk_realtime_url(monkeypatch: pytest.MonkeyPatch, base_url: str, model: str) -> str:
    """The URL `AsyncOpenAI(base_url=...).realtime.connect(model=...)` would open."""
    monkeypatch.setattr(sdk_websocket, "_WebSocketConnect", _capture_connect)
    client = openai.AsyncOpenAI(api_key="k", base_url=base_url)
    try:
        with pytest.raises(_Captured) as captured:
            await client.realtime.connect(model=model).__aenter__()
    finally:
        await client.close()
    return captured.value.url


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://127.0.0.1:9/v1", "ws://127.0.0.1:9/v1/realtime?model=gpt-realtime"),
        ("https://api.openai.com/v1", "wss://api.openai.com/v1/realtime?model=gpt-realtime"),
        ("https://proxy/x/v1/", "wss://proxy/x/v1/realtime?model=gpt-realtime"),
        ("http://127.0.0.1:9", "ws://127.0.0.1:9/realtime?model=gpt-realtime"),
        (
            "https://proxy/v1?api-version=2",
            "wss://proxy/v1/realtime?api-version=2&model=gpt-realtime",
        ),
    ],
)
async def test_realtime_url_matches_the_sdk(
    monkeypatch: pytest.MonkeyPatch, base_url: str, expected: str
) -> None:
    assert rt.realtime_url(base_url, "gpt-realtime") == expected
    assert await sdk_realtime_url(monkeypatch, base_url, "gpt-realtime") == expected


@pytest.mark.parametrize("model", ["gpt-realtime-2025-08-28", "a b/c:d&e=f"])
async def test_model_is_query_encoded_like_the_sdk(
    monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    base = "https://api.openai.com/v1"
    assert rt.realtime_url(base, model) == await sdk_realtime_url(monkeypatch, base, model)


def _normalized(url: str) -> str:
    parts = urlsplit(url)
    default = {"ws": 80, "wss": 443}[parts.scheme]
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port not in (None, default) else "")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


@pytest.mark.parametrize(
    "base_url", ["http://h:80/v1", "https://h:443/v1", "HTTPS://Proxy.Example/v1"]
)
async def test_default_port_and_host_case_reach_the_same_endpoint(
    monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    # The SDK normalizes (drops a default port, lowercases the host); we keep the text as given.
    # Not byte-identical, but the same socket endpoint.
    ours = rt.realtime_url(base_url, "m")
    sdk = await sdk_realtime_url(monkeypatch, base_url, "m")
    assert _normalized(ours) == _normalized(sdk)


# --- client events validated by the SDK's GA models -------------------------------------------


def _no_extras(model: BaseModel, where: str = "event") -> None:
    """The SDK models accept unknown keys; a misspelt or legacy field would pass silently."""
    assert not model.model_extra, f"{where} has fields the SDK does not know: {model.model_extra}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, BaseModel):
                _no_extras(item, f"{where}.{name}")


def validated(model: type[BaseModel], text: str) -> BaseModel:
    parsed = model.model_validate_json(text)
    _no_extras(parsed)
    assert parsed.model_dump(mode="json", exclude_unset=True) == json.loads(text)
    return parsed


END_CALL_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "end_call",
    "description": "Hang up.",
    "parameters": {"type": "object", "properties": {}},
}


def test_session_update_server_vad_is_the_documented_ga_shape() -> None:
    text = rt.session_update(
        instructions="Be brief.", voice="marin", vad=VadConfig(), tools=[END_CALL_TOOL]
    )
    assert json.loads(text) == {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": "Be brief.",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 300,
                        "silence_duration_ms": 800,
                        "create_response": False,
                        "interrupt_response": False,
                    },
                    "transcription": {"model": "gpt-4o-mini-transcribe"},
                    "noise_reduction": None,
                },
                "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
            },
            "tools": [END_CALL_TOOL],
            "tool_choice": "auto",
        },
    }
    event = validated(SessionUpdateEvent, text)
    assert isinstance(event, SessionUpdateEvent)
    session = event.session
    assert session.type == "realtime"
    assert session.audio is not None
    assert session.audio.input is not None
    assert session.audio.output is not None
    assert session.audio.input.format is not None
    assert session.audio.input.format.type == "audio/pcmu"
    assert session.audio.output.voice == "marin"
    turn = session.audio.input.turn_detection
    assert turn is not None
    assert turn.type == "server_vad"


@pytest.mark.parametrize("field", ["near_field", "far_field"])
def test_session_update_input_noise_reduction(field: Any) -> None:
    text = rt.session_update(instructions="x", voice="marin", vad=VadConfig(noise_reduction=field))
    event = validated(SessionUpdateEvent, text)
    assert isinstance(event, SessionUpdateEvent)
    assert event.session.audio is not None
    assert event.session.audio.input is not None
    reduction = event.session.audio.input.noise_reduction
    assert reduction is not None
    assert reduction.type == field


@pytest.mark.parametrize("eagerness", ["low", "medium", "high", "auto"])
def test_session_update_semantic_vad(eagerness: Any) -> None:
    vad = VadConfig(type="semantic_vad", eagerness=eagerness, threshold=0.9)
    text = rt.session_update(instructions="x", voice="cedar", vad=vad)
    event = validated(SessionUpdateEvent, text)
    raw = json.loads(text)["session"]
    assert raw["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": eagerness,
        "create_response": False,
        "interrupt_response": False,
    }
    assert "tools" not in raw
    assert "tool_choice" not in raw
    assert isinstance(event, SessionUpdateEvent)
    session = event.session
    assert session.type == "realtime"
    assert session.audio is not None
    assert session.audio.output is not None
    assert session.audio.output.voice == "cedar"
    turn = session.audio.input.turn_detection if session.audio.input else None
    assert turn is not None
    assert turn.type == "semantic_vad"
    assert turn.eagerness == eagerness


def test_session_update_carries_custom_server_vad_numbers() -> None:
    vad = VadConfig(threshold=0.7, prefix_padding_ms=200, silence_duration_ms=650)
    text = rt.session_update(instructions="x", voice="marin", vad=vad)
    validated(SessionUpdateEvent, text)
    turn = json.loads(text)["session"]["audio"]["input"]["turn_detection"]
    assert (turn["threshold"], turn["prefix_padding_ms"], turn["silence_duration_ms"]) == (
        0.7,
        200,
        650,
    )


def test_session_update_speaks_no_beta_names() -> None:
    text = rt.session_update(instructions="x", voice="marin", vad=VadConfig())
    for legacy in ("input_audio_format", "output_audio_format", "g711_ulaw", 'modalities":'):
        assert legacy not in text.replace("output_modalities", "")


def test_audio_append() -> None:
    text = rt.audio_append("f39/fw==")
    assert json.loads(text) == {"type": "input_audio_buffer.append", "audio": "f39/fw=="}
    validated(InputAudioBufferAppendEvent, text)


def test_item_truncate() -> None:
    text = rt.item_truncate("item_9", 1234)
    event = validated(ConversationItemTruncateEvent, text)
    assert isinstance(event, ConversationItemTruncateEvent)
    assert (event.item_id, event.content_index, event.audio_end_ms) == ("item_9", 0, 1234)


def test_response_create_plain_and_with_instructions() -> None:
    assert json.loads(rt.response_create()) == {"type": "response.create"}
    validated(ResponseCreateEvent, rt.response_create())
    event = validated(ResponseCreateEvent, rt.response_create("Say goodbye."))
    assert isinstance(event, ResponseCreateEvent)
    assert event.response is not None
    assert event.response.instructions == "Say goodbye."


def test_response_cancel() -> None:
    assert json.loads(rt.response_cancel()) == {"type": "response.cancel"}
    validated(ResponseCancelEvent, rt.response_cancel())


def test_user_text() -> None:
    text = rt.user_text('He said "hi" \u00e9')
    assert json.loads(text) == {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": 'He said "hi" \u00e9'}],
        },
    }
    validated(ConversationItemCreateEvent, text)


# --- server events ----------------------------------------------------------------------------

_SERVER_EVENT = TypeAdapter[Any](RealtimeServerEvent)

RESPONSE = {
    "id": "resp_1",
    "object": "realtime.response",
    "status": "completed",
    "output": [],
}

SERVER_FRAMES: list[tuple[dict[str, Any], rt.ServerEvent]] = [
    (
        {
            "type": "response.output_audio.delta",
            "event_id": "e1",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "f39/fw==",
        },
        rt.AudioDelta("resp_1", "item_1", "f39/fw=="),
    ),
    (
        {
            "type": "input_audio_buffer.speech_started",
            "event_id": "e2",
            "audio_start_ms": 1500,
            "item_id": "item_2",
        },
        rt.SpeechStarted(1500, "item_2"),
    ),
    (
        {
            "type": "input_audio_buffer.speech_stopped",
            "event_id": "e3",
            "audio_end_ms": 2500,
            "item_id": "item_2",
        },
        rt.SpeechStopped(2500, "item_2"),
    ),
    (
        {
            "type": "response.created",
            "event_id": "e4",
            "response": {**RESPONSE, "status": "in_progress"},
        },
        rt.ResponseCreated("resp_1"),
    ),
    (
        {
            "type": "response.done",
            "event_id": "e5",
            "response": {**RESPONSE, "status": "cancelled"},
        },
        rt.ResponseDone("resp_1", "cancelled"),
    ),
    (
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "event_id": "e6",
            "item_id": "item_2",
            "content_index": 0,
            "transcript": "I need a quote.",
            "usage": {"type": "duration", "seconds": 1.2},
        },
        rt.CallerTranscript("item_2", "I need a quote."),
    ),
    (
        {
            "type": "response.output_audio_transcript.done",
            "event_id": "e7",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "transcript": "Sure, happy to help.",
        },
        rt.AgentTranscript("resp_1", "item_1", "Sure, happy to help."),
    ),
    (
        {
            "type": "response.function_call_arguments.done",
            "event_id": "e8",
            "response_id": "resp_1",
            "item_id": "item_3",
            "output_index": 0,
            "call_id": "call_1",
            "name": "end_call",
            "arguments": '{"reason":"done"}',
        },
        rt.FunctionCall("call_1", "end_call", '{"reason":"done"}'),
    ),
    (
        {"type": "session.updated", "event_id": "e9", "session": {"type": "realtime"}},
        rt.SessionUpdated(),
    ),
    (
        {
            "type": "error",
            "event_id": "e10",
            "error": {
                "type": "invalid_request_error",
                "code": "response_cancel_not_active",
                "message": "no active response",
            },
        },
        rt.ServerError("response_cancel_not_active", "no active response", "invalid_request_error"),
    ),
]


@pytest.mark.parametrize(
    ("frame", "expected"), SERVER_FRAMES, ids=[f["type"] for f, _ in SERVER_FRAMES]
)
def test_decode_server_event(frame: dict[str, Any], expected: rt.ServerEvent) -> None:
    _SERVER_EVENT.validate_python(frame)  # the fixture is a real GA event
    assert rt.decode_server_event(json.dumps(frame)) == expected
    assert rt.decode_server_event(json.dumps(frame).encode()) == expected


@pytest.mark.parametrize(
    "kind",
    [
        "session.created",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "response.output_audio.done",
        "rate_limits.updated",
        "response.audio.delta",  # beta name: not ours
        "conversation.item.created",  # beta name
        "something.new",
    ],
)
def test_unhandled_types_decode_to_none(kind: str) -> None:
    assert rt.decode_server_event(json.dumps({"type": kind, "event_id": "e"})) is None


def test_missing_or_mistyped_fields_decode_to_empty_values() -> None:
    assert rt.decode_server_event('{"type":"response.output_audio.delta"}') == rt.AudioDelta(
        "", "", ""
    )
    assert rt.decode_server_event(
        '{"type":"input_audio_buffer.speech_started","audio_start_ms":"12"}'
    ) == rt.SpeechStarted(0, "")
    assert rt.decode_server_event('{"type":"response.created","response":[]}') == (
        rt.ResponseCreated("")
    )
    assert rt.decode_server_event('{"type":"response.done","response":null}') == rt.ResponseDone(
        "", ""
    )
    assert rt.decode_server_event('{"type":"error","error":"boom"}') == rt.ServerError("", "", "")


@pytest.mark.parametrize(
    "frame", ["not json", "", "{", b"\xff\xfe", "[]", "42", "null", "{}", '{"type":3}']
)
def test_non_events_raise_value_error(frame: str | bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - ValueError is the documented contract
        rt.decode_server_event(frame)


def test_deeply_nested_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        rt.decode_server_event("[" * 20_000 + "]" * 20_000)


def test_benign_error_codes() -> None:
    assert frozenset({"response_cancel_not_active"}) == rt.BENIGN_ERROR_CODES
