"""The shipped OpenAI Realtime simulator, driven by the official `openai` SDK and raw websockets.

Every server event a simulator sent during a test is validated against the SDK's pydantic
models at teardown (no missing fields, no unknown fields), so protocol drift fails loudly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pydantic
import pytest
from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.realtime import RealtimeServerEvent, RealtimeSessionCreateRequestParam
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from engine.audio import b64, frames, silence, speech_like, speech_ms_for_text
from engine.sim.realtime import (
    RealtimeSimulator,
    Reply,
    Script,
    register_script,
    run_standalone,
)
from engine.sim.realtime_script import FALLBACK_REPLY

PHONE = "+15551230001"
GREETING = "Hello, thanks for calling Acme Insurance. How can I help?"
WAIT_S = 10.0

SERVER_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
# The real server also reports these on the session object; the SDK model does not list them.
_ALLOWED_EXTRAS = {"session.id", "session.object", "session.expires_at"}


def _extras(value: object, path: str) -> Iterator[str]:
    if isinstance(value, pydantic.BaseModel):
        for key in value.model_extra or {}:
            yield f"{path}{key}"
        for name in type(value).model_fields:
            yield from _extras(getattr(value, name), f"{path}{name}.")
    elif isinstance(value, list):
        for entry in value:
            yield from _extras(entry, path)


def check_server_event(event: dict[str, Any]) -> None:
    model = SERVER_EVENT.validate_python(event)
    unknown = [e for e in _extras(model, "") if e not in _ALLOWED_EXTRAS]
    assert not unknown, f"{event['type']} carries fields the SDK does not know: {unknown}"


SimFactory = Callable[..., Awaitable[RealtimeSimulator]]


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    sims: list[RealtimeSimulator] = []

    async def factory(**kwargs: Any) -> RealtimeSimulator:
        kwargs.setdefault("pace", 0)
        sim = RealtimeSimulator(**kwargs)
        await sim.start()
        sims.append(sim)
        return sim

    yield factory
    for sim in sims:
        await sim.stop()
        assert all(s.closed for s in sim.sessions)
        for session in sim.sessions:
            ids = [e["event_id"] for _, e in session.sent]
            assert len(ids) == len(set(ids)), "event_id values must be unique"
            for _, event in session.sent:
                check_server_event(event)


def engine_session(
    *, voice: str = "marin", silence_ms: int = 500
) -> RealtimeSessionCreateRequestParam:
    """The session.update the engine sends (PROTOCOLS.md)."""
    return {
        "type": "realtime",
        "instructions": f"You answer the phone for Acme Insurance. Caller: {PHONE}.",
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcmu"},
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": silence_ms,
                    "create_response": True,
                    "interrupt_response": True,
                },
                "transcription": {"model": "gpt-4o-mini-transcribe"},
            },
            "output": {"format": {"type": "audio/pcmu"}, "voice": voice},
        },
        "tools": [
            {
                "type": "function",
                "name": "end_call",
                "description": "Hang up.",
                "parameters": {"type": "object", "properties": {}},
            }
        ],
        "tool_choice": "auto",
    }


@asynccontextmanager
async def sdk_connection(sim: RealtimeSimulator) -> AsyncIterator[AsyncRealtimeConnection]:
    async with (
        AsyncOpenAI(api_key="sk-test-key", base_url=sim.base_url) as client,
        client.realtime.connect(model="gpt-realtime") as conn,
    ):
        yield conn


async def recv(conn: AsyncRealtimeConnection) -> Any:
    """The next event, validated from its wire bytes (the SDK itself does not validate)."""
    raw = await conn.recv_bytes()
    check_server_event(json.loads(raw))
    return conn.parse_event(raw)


async def collect_until(conn: AsyncRealtimeConnection, stop: str, count: int = 1) -> list[Any]:
    """Receive events until `count` events of type `stop` arrived (bounded by WAIT_S)."""
    events: list[Any] = []
    async with asyncio.timeout(WAIT_S):
        while count:
            event = await recv(conn)
            events.append(event)
            count -= event.type == stop
    return events


async def start_call(conn: AsyncRealtimeConnection, **kwargs: Any) -> None:
    assert (await recv(conn)).type == "session.created"
    await conn.session.update(session=engine_session(**kwargs))
    assert (await recv(conn)).type == "session.updated"


async def say(conn: AsyncRealtimeConnection, ms: int = 1200, pause_ms: int = 800) -> None:
    audio = silence(200) + speech_like(f"caller {ms}", ms=ms) + silence(pause_ms)
    for frame in frames(audio):
        await conn.input_audio_buffer.append(audio=b64(frame))


def types(events: list[Any]) -> list[str]:
    return [e.type for e in events]


def audio_ms(events: list[Any]) -> int:
    return (
        sum(
            len(base64.b64decode(e.delta))
            for e in events
            if e.type == "response.output_audio.delta"
        )
        // 8
    )


# --- the main flow, through the official SDK -----------------------------------------------


async def test_call_flow_greeting_turn_and_reply(make_sim: SimFactory) -> None:
    sim = await make_sim()
    sim.add_script(
        PHONE,
        Script(
            transcripts=("I need a quote for my car.",),
            replies=(Reply("Sure. What is the make and model?"),),
        ),
    )
    async with sdk_connection(sim) as conn:
        await start_call(conn)
        await conn.response.create(response={"instructions": f'Say exactly: "{GREETING}"'})
        greeting = await collect_until(conn, "response.done")
        assert types(greeting)[:5] == [
            "response.created",
            "rate_limits.updated",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
        ]
        assert types(greeting)[-6:] == [
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
        assert greeting[-1].response.status == "completed"
        assert greeting[-5].transcript == GREETING
        assert audio_ms(greeting) == speech_ms_for_text(GREETING)

        await say(conn)
        turn = await collect_until(conn, "response.done")
        assert types(turn)[:7] == [
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "conversation.item.input_audio_transcription.completed",
            "response.created",
        ]
        started, stopped = turn[0], turn[1]
        assert started.item_id == stopped.item_id == turn[2].item_id
        assert 0 <= started.audio_start_ms <= 200 < stopped.audio_end_ms
        assert turn[5].transcript == "I need a quote for my car."
        assert turn[-1].response.output[0].content[0].transcript == (
            "Sure. What is the make and model?"
        )

    session = sim.sessions[0]
    assert session.instructions.endswith(f"{PHONE}.")
    assert session.voice == "marin"
    assert session.session_config["audio"]["output"]["voice"] == "marin"
    appends = [e for _, e in session.received if e["type"] == "input_audio_buffer.append"]
    assert len(appends) == len(session.append_times) == len(session.audio_in) // 160
    assert [(i["role"], i["content"][0]["transcript"]) for i in session.items()] == [
        ("assistant", GREETING),
        ("user", "I need a quote for my car."),
        ("assistant", "Sure. What is the make and model?"),
    ]


async def test_audio_is_paced_after_the_first_audio_delay(make_sim: SimFactory) -> None:
    sim = await make_sim(pace=10, first_audio_delay_ms=150, chunk_ms=100)
    async with sdk_connection(sim) as conn:
        await start_call(conn)
        await conn.response.create()
        loop = asyncio.get_running_loop()
        stamps: dict[str, list[float]] = {}
        async with asyncio.timeout(WAIT_S):
            while (event := await recv(conn)).type != "response.done":
                stamps.setdefault(event.type, []).append(loop.time())
    deltas = stamps["response.output_audio.delta"]
    total_ms = speech_ms_for_text(FALLBACK_REPLY)  # no script: the fallback reply
    assert len(deltas) == -(-total_ms // 100)
    assert deltas[0] - stamps["response.created"][0] >= 0.14
    assert deltas[-1] - deltas[0] >= (total_ms - 100) / 1000 / 10 * 0.9


async def test_function_call_reply_and_its_output(make_sim: SimFactory) -> None:
    sim = await make_sim(
        default_script=Script(
            replies=(
                Reply("Goodbye!", function="end_call", arguments='{"reason": "done"'),
                Reply("Anything else?"),
            )
        )
    )
    async with sdk_connection(sim) as conn:
        await start_call(conn)
        await conn.response.create()
        events = await collect_until(conn, "response.done")
        done = next(e for e in events if e.type == "response.function_call_arguments.done")
        assert (done.name, done.arguments) == ("end_call", '{"reason": "done"')
        assert done.output_index == 1
        assert done.call_id.startswith("call_")
        response = events[-1].response
        assert [o.type for o in response.output] == ["message", "function_call"]
        assert response.status == "completed"

        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": "call_unknown", "output": "{}"}
        )
        error = (await collect_until(conn, "error"))[-1]
        assert (error.error.code, error.error.param) == ("invalid_value", "item.call_id")

        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": done.call_id, "output": '{"ok":1}'}
        )
        added = await collect_until(conn, "conversation.item.done")
        assert types(added) == ["conversation.item.added", "conversation.item.done"]
        await conn.response.create()
        follow_up = await collect_until(conn, "response.done")
        assert follow_up[-1].response.output[0].content[0].transcript == "Anything else?"
    assert [i["type"] for i in sim.sessions[0].items()] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]


async def test_cancel_during_model_latency_leaves_an_incomplete_call(make_sim: SimFactory) -> None:
    sim = await make_sim(
        first_audio_delay_ms=5000,
        default_script=Script(
            replies=(Reply(function="transfer_call", arguments='{"to": "sales"}'),)
        ),
    )
    async with sdk_connection(sim) as conn:
        await start_call(conn)
        await conn.response.create()
        await collect_until(conn, "response.output_item.added")
        await conn.response.cancel()
        events = await collect_until(conn, "response.done")
    assert "response.function_call_arguments.done" not in types(events)
    assert events[-1].response.status == "cancelled"
    assert events[-1].response.output[0].status == "incomplete"


async def test_barge_in_cancels_and_truncate_checks_generated_audio(make_sim: SimFactory) -> None:
    long_reply = "Let me explain our coverage options in some detail. " * 3
    sim = await make_sim(
        pace=1,
        default_script=Script(
            transcripts=("Wait, stop.",), replies=(Reply(long_reply), Reply("Of course."))
        ),
    )
    async with sdk_connection(sim) as conn:
        await start_call(conn, silence_ms=300)
        await conn.response.create()
        events = await collect_until(conn, "response.output_audio.delta", count=3)
        item_id = events[-1].item_id
        await say(conn, ms=600, pause_ms=600)
        events += await collect_until(conn, "response.done", count=2)
        cancelled = next(e for e in events if e.type == "response.done")
        assert cancelled.response.status == "cancelled"
        assert cancelled.response.status_details.reason == "turn_detected"
        assert types(events).index("input_audio_buffer.speech_started") < types(events).index(
            "response.output_audio.done"
        )
        generated = audio_ms(events[: events.index(cancelled)])
        assert 0 < generated < speech_ms_for_text(long_reply) // 2

        await conn.conversation.item.truncate(
            item_id=item_id, content_index=0, audio_end_ms=generated + 500
        )
        error = (await collect_until(conn, "error"))[-1]
        assert error.error.code == "invalid_value"
        assert "already shorter" in error.error.message

        await conn.conversation.item.truncate(
            item_id=item_id, content_index=0, audio_end_ms=generated
        )
        truncated = (await collect_until(conn, "conversation.item.truncated"))[-1]
        assert truncated.audio_end_ms == generated
    heard = sim.sessions[0].items()[0]["content"][0]["transcript"]
    assert len(heard) <= len(long_reply) * generated // speech_ms_for_text(long_reply) + 1


async def test_cancel_and_concurrent_create_errors(make_sim: SimFactory) -> None:
    sim = await make_sim(pace=1)
    async with sdk_connection(sim) as conn:
        await start_call(conn)
        await conn.response.cancel(event_id="evt_client_1")
        error = (await collect_until(conn, "error"))[-1]
        assert (error.error.code, error.error.event_id) == (
            "response_cancel_not_active",
            "evt_client_1",
        )
        await conn.response.create()
        await collect_until(conn, "response.output_audio.delta")
        await conn.response.create()
        error = (await collect_until(conn, "error"))[-1]
        assert error.error.code == "conversation_already_has_active_response"
        await conn.response.cancel()
        events = await collect_until(conn, "response.done")
        assert events[-1].response.status == "cancelled"
        assert events[-1].response.status_details.reason == "client_cancelled"
        assert "response.output_audio.done" in types(events)
        assert events[-1].response.output[0].status == "incomplete"


async def test_voice_is_locked_once_audio_was_produced(make_sim: SimFactory) -> None:
    sim = await make_sim()
    async with sdk_connection(sim) as conn:
        await start_call(conn, voice="marin")
        await conn.session.update(
            session={"type": "realtime", "audio": {"output": {"voice": "cedar"}}}
        )
        assert (await collect_until(conn, "session.updated"))[-1].session.audio.output.voice == (
            "cedar"
        )
        await conn.response.create()
        await collect_until(conn, "response.done")
        await conn.session.update(
            session={"type": "realtime", "audio": {"output": {"voice": "alloy"}}}
        )
        error = (await collect_until(conn, "error"))[-1]
        assert error.error.code == "cannot_update_voice"
    assert sim.sessions[0].voice == "cedar"


async def test_manual_turns_without_turn_detection(make_sim: SimFactory) -> None:
    sim = await make_sim(default_script=Script(transcripts=("Hello?",)))
    async with sdk_connection(sim) as conn:
        assert (await recv(conn)).type == "session.created"
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcmu"},
                        "turn_detection": None,
                        "transcription": {"model": "gpt-4o-mini-transcribe"},
                    }
                },
            }
        )
        await collect_until(conn, "session.updated")
        await conn.input_audio_buffer.commit()
        error = (await collect_until(conn, "error"))[-1]
        assert error.error.code == "input_audio_buffer_commit_empty"
        await say(conn, ms=800)
        await conn.input_audio_buffer.commit()
        events = await collect_until(conn, "conversation.item.input_audio_transcription.completed")
        assert types(events) == [
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "conversation.item.input_audio_transcription.completed",
        ]
        assert events[-1].transcript == "Hello?"
        await conn.input_audio_buffer.clear()
        assert types(await collect_until(conn, "input_audio_buffer.cleared")) == [
            "input_audio_buffer.cleared"
        ]
    assert not any(e["type"].startswith("response.") for _, e in sim.sessions[0].sent)


async def test_history_items_and_text_responses(make_sim: SimFactory) -> None:
    sim = await make_sim()
    async with sdk_connection(sim) as conn:
        assert (await recv(conn)).type == "session.created"
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await collect_until(conn, "session.updated")
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "My policy is P-1."}],
            }
        )
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Noted."}],
            }
        )
        await conn.conversation.item.create(
            previous_item_id="root",
            item={
                "type": "message",
                "role": "system",
                "content": [{"type": "input_text", "text": "Earlier call summary."}],
            },
        )
        await collect_until(conn, "conversation.item.done", count=3)
        await conn.response.create(response={"instructions": 'Reply "Thanks."'})
        events = await collect_until(conn, "response.done")
        assert "response.output_text.done" in types(events)
        assert "response.output_audio.delta" not in types(events)
    assert [(i["role"], i["content"][0]["text"]) for i in sim.sessions[0].items()] == [
        ("system", "Earlier call summary."),
        ("user", "My policy is P-1."),
        ("assistant", "Noted."),
        ("assistant", "Thanks."),
    ]


async def test_pcm_output_is_24khz_pcm16(make_sim: SimFactory) -> None:
    sim = await make_sim()
    async with sdk_connection(sim) as conn:
        assert (await recv(conn)).type == "session.created"  # defaults: audio/pcm 24 kHz
        await conn.response.create(response={"instructions": 'Say "Hi there."'})
        events = await collect_until(conn, "response.done")
    pcm_bytes = sum(
        len(base64.b64decode(e.delta)) for e in events if e.type == "response.output_audio.delta"
    )
    assert pcm_bytes == speech_ms_for_text("Hi there.") * 48


# --- handshake, control channel, connection faults -------------------------------------------


def ws_url(sim: RealtimeSimulator, path: str = "/realtime?model=gpt-realtime") -> str:
    return sim.base_url.replace("http://", "ws://") + path


@asynccontextmanager
async def raw_connection(sim: RealtimeSimulator) -> AsyncIterator[ClientConnection]:
    async with connect(
        ws_url(sim), additional_headers={"Authorization": "Bearer sk-raw"}, open_timeout=WAIT_S
    ) as ws:
        yield ws


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_S):
        event: dict[str, Any] = json.loads(await ws.recv())
    check_server_event(event)
    return event


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/realtime?model=gpt-realtime", {}, 401, "invalid_api_key"),
        (
            "/realtime?model=gpt-realtime",
            {"Authorization": "Bearer sk-wrong"},
            401,
            "invalid_api_key",
        ),
        ("/realtime", {"Authorization": "Bearer sk-good"}, 400, "missing_required_parameter"),
        ("/nowhere?model=gpt-realtime", {"Authorization": "Bearer sk-good"}, 404, None),
    ],
)
async def test_handshake_rejections(
    make_sim: SimFactory, path: str, headers: dict[str, str], status: int, code: str | None
) -> None:
    sim = await make_sim(api_keys={"sk-good"})
    with pytest.raises(InvalidStatus) as caught:
        async with connect(ws_url(sim, path), additional_headers=headers, open_timeout=WAIT_S):
            pass
    response = caught.value.response
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body)["error"]["code"] == code
    assert sim.sessions == []


async def test_fail_next_session_then_recover(make_sim: SimFactory) -> None:
    sim = await make_sim()
    sim.fail_next_session(503)
    with pytest.raises(InvalidStatus) as caught:
        async with raw_connection(sim):
            pass
    assert caught.value.response.status_code == 503
    async with raw_connection(sim) as ws:
        assert (await recv_json(ws))["type"] == "session.created"
    assert len(sim.sessions) == 1


async def test_malformed_client_events_get_errors_and_the_session_survives(
    make_sim: SimFactory,
) -> None:
    sim = await make_sim()
    async with raw_connection(sim) as ws:
        created = await recv_json(ws)
        assert created["session"]["id"].startswith("sess_")
        cases: list[tuple[str, str, str | None]] = [
            ("this is not json", "invalid_json", None),
            ('["a list"]', "invalid_type", None),
            ('{"event_id": "e1"}', "missing_required_parameter", "type"),
            ('{"type": "response.audio.delta", "event_id": "e2"}', "invalid_value", "type"),
            (
                '{"type": "input_audio_buffer.append", "audio": "%%%not base64"}',
                "invalid_value",
                "audio",
            ),
            (
                '{"type": "session.update", "session": {"instructions": "x"}}',
                "missing_required_parameter",
                "session.type",
            ),
            (
                '{"type": "session.update", "session": {"type": "realtime", "voice": "marin"}}',
                "unknown_parameter",
                "session.voice",
            ),
            (
                '{"type": "session.update", "session": {"type": "realtime", "audio": {"input": '
                '{"format": {"type": "g711_ulaw"}}}}}',
                "invalid_value",
                "session.audio.input.format.type",
            ),
            (
                '{"type": "session.update", "session": {"type": "realtime", "audio": {"output": '
                '{"voice": "robot"}}}}',
                "invalid_value",
                "session.audio.output.voice",
            ),
            (
                '{"type": "session.update", "session": {"type": "realtime", "audio": {"input": '
                '{"turn_detection": {"type": "push_to_talk"}}}}}',
                "invalid_value",
                "session.audio.input.turn_detection.type",
            ),
            (
                '{"type": "conversation.item.create", "item": {"type": "message", "role": '
                '"assistant", "content": [{"type": "text", "text": "beta"}]}}',
                "invalid_value",
                "item.content[0].type",
            ),
            (
                '{"type": "conversation.item.truncate", "item_id": "item_nope", '
                '"content_index": 0, "audio_end_ms": 10}',
                "invalid_value",
                "item_id",
            ),
        ]
        for raw, code, param in cases:
            await ws.send(raw)
            event = await recv_json(ws)
            assert event["type"] == "error", raw
            assert (event["error"]["code"], event["error"]["param"]) == (code, param), raw
            assert event["event_id"].startswith("event_")
        await ws.send(
            json.dumps(
                {
                    "type": "session.update",
                    "event_id": "ok",
                    "session": {"type": "realtime", "instructions": "still here"},
                }
            )
        )
        assert (await recv_json(ws))["session"]["instructions"] == "still here"
    errors = [e for _, e in sim.sessions[0].sent if e["type"] == "error"]
    assert errors[3]["error"]["event_id"] == "e2"


async def test_oversized_message_closes_with_1009(make_sim: SimFactory) -> None:
    sim = await make_sim()
    # No `async with`: closing again after the server failed the connection mid-send trips
    # the client library; the connection is already closed when the test ends.
    ws = await connect(
        ws_url(sim), additional_headers={"Authorization": "Bearer sk-raw"}, open_timeout=WAIT_S
    )
    try:
        await recv_json(ws)
        huge = json.dumps(
            {"type": "input_audio_buffer.append", "audio": "A" * (15 * 1024 * 1024 + 4)}
        )
        with contextlib.suppress(ConnectionClosed):  # the server may fail us mid-send
            await ws.send(huge)
        with pytest.raises(ConnectionClosedError) as caught:
            await recv_json(ws)
        assert caught.value.rcvd is not None
        assert caught.value.rcvd.code == 1009
    finally:
        if not ws.transport.is_closing():
            ws.transport.abort()
    async with asyncio.timeout(WAIT_S):
        await sim.sessions[0].wait_closed()


async def test_control_channel_registers_scripts(make_sim: SimFactory) -> None:
    sim = await make_sim()
    await register_script(
        sim.base_url,
        PHONE,
        Script(
            transcripts=("Is my claim approved?",),
            replies=(Reply(function="lookup_claim", arguments='{"id": 7}'),),
        ),
    )
    async with connect(ws_url(sim, "").replace("/v1", "/control"), open_timeout=WAIT_S) as ws:
        await ws.send('{"match": 5}')
        async with asyncio.timeout(WAIT_S):
            reply = json.loads(await ws.recv())
    assert reply == {"ok": False, "error": "'match' must be a string"}
    bad = Reply(function=5)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="refused"):
        await register_script(sim.base_url, "x", Script(replies=(bad,)))
    assert sim.script_for(f"Caller: {PHONE}.").transcripts == ("Is my claim approved?",)
    async with sdk_connection(sim) as conn:
        await start_call(conn)
        await say(conn)
        events = await collect_until(conn, "response.done")
    transcript = next(
        e for e in events if e.type == "conversation.item.input_audio_transcription.completed"
    )
    assert transcript.transcript == "Is my claim approved?"
    assert events[-1].response.output[0].name == "lookup_claim"


async def test_drop_all_breaks_live_sockets(make_sim: SimFactory) -> None:
    sim = await make_sim()
    async with sdk_connection(sim) as conn:
        await start_call(conn)
        sim.drop_all()
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(WAIT_S):
                await conn.recv()
    async with asyncio.timeout(WAIT_S):
        await sim.sessions[0].wait_closed()


async def test_stop_closes_sessions_with_going_away(make_sim: SimFactory) -> None:
    sim = await make_sim(pace=1)
    async with raw_connection(sim) as ws:
        await recv_json(ws)
        await ws.send('{"type": "response.create"}')
        assert (await recv_json(ws))["type"] == "response.created"
        await sim.stop()
        async with asyncio.timeout(WAIT_S):
            remaining = [json.loads(m) async for m in ws]  # ends at the close frame
        assert ws.close_code == 1001
        assert remaining, "the response was still streaming when the server stopped"
    assert sim.sessions[0].closed


async def test_standalone_runner_serves_until_cancelled() -> None:
    with socket.socket() as probe:  # a free port for the runner, which takes a fixed one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runner = asyncio.create_task(run_standalone(port, pace=0))
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        async with asyncio.timeout(WAIT_S):
            while True:
                try:
                    await register_script(base_url, PHONE, Script(replies=(Reply("Hi!"),)))
                    break
                except OSError:
                    await asyncio.sleep(0.05)
        async with (
            AsyncOpenAI(api_key="any", base_url=base_url) as client,
            client.realtime.connect(model="gpt-realtime") as conn,
        ):
            await start_call(conn)
            await conn.response.create()
            events = await collect_until(conn, "response.done")
        assert events[-1].response.output[0].content[0].transcript == "Hi!"
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    with pytest.raises(ConnectionRefusedError):  # stopped: the port is closed again
        await register_script(base_url, PHONE, Script())
