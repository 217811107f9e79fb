"""A call end to end in one process: signed webhook -> TwiML -> media stream -> call actor ->
realtime simulator -> greeting heard -> caller speaks -> reply heard -> barge-in -> hang-up ->
ordered transcript in Postgres. Plus the media-path failure cases."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from structlog.testing import capture_logs
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import BargeIn, CallScript, HangUp, Speak, WaitForAgent
from memory import calls
from memory.db import tenant_tx
from tests.call_outcome import engine_outcome
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine

LONG_REPLY = (
    "Certainly. Our auto policies cover collision, comprehensive, liability and uninsured "
    "motorists, and each of these has its own deductible that you can choose when you buy it."
)


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


class _RollBack(Exception):
    pass


async def _outcome(engine: Engine, tenant_id: str, call_sid: str) -> str | None:
    return (await engine_outcome(engine.db, tenant_id, call_sid)).outcome


async def test_the_callers_context_is_looked_up_while_the_model_socket_opens(
    engine: Engine,
) -> None:
    _, number = await engine.new_tenant()
    engine.sim.fail_next_session(503)  # two refused handshakes: the model opens after the
    engine.sim.fail_next_session(503)  # retries' 50 + 500 ms back-off
    script = CallScript(
        from_number="+15550142009",
        to_number=number,
        steps=(WaitForAgent(timeout=15), HangUp()),
    )
    with capture_logs() as logs:
        result = await engine.caller().place_call(script, timeout=30)
        for _ in range(100):
            ended = [e for e in logs if e["event"] == "call_ended"]
            if ended:
                break
            await asyncio.sleep(0.05)
    assert result.violations == []
    assert result.first_audio_after_start_ms() is not None
    timeline = ended[0]["timeline_ms"]
    assert timeline["model_open"] >= 500
    # the lookup did not wait for the socket: it was done well before the model opened
    assert timeline["caller_context"] < timeline["model_open"] - 300


async def test_a_stream_that_starts_before_the_call_row_is_written_is_still_counted(
    engine: Engine,
) -> None:
    tenant_id, number = await engine.new_tenant()
    call_sid = "CA" + "5" * 32
    script = CallScript(
        from_number="+15550142011",
        to_number=number,
        steps=(WaitForAgent(timeout=15), HangUp()),
    )
    with contextlib.suppress(_RollBack):
        async with tenant_tx(engine.db, tenant_id) as conn:
            # the same key, uncommitted: the engine's insert of the call row waits on it
            await conn.execute(
                "INSERT INTO calls (tenant_id, call_sid, from_number, to_number)"
                " VALUES ($1::uuid, $2, '+15550000000', '+15550000001')",
                tenant_id,
                call_sid,
            )
            call = asyncio.create_task(engine.caller().place_call(script, call_sid=call_sid))
            await asyncio.sleep(1.0)  # the stream has started meanwhile
            raise _RollBack
    result = await call
    assert result.violations == []
    assert await _outcome(engine, tenant_id, call_sid) == "caller_hung_up"
    record = await calls.get_call(engine.db, tenant_id, call_sid)
    assert record is not None
    assert (record.streams, record.from_number) == (1, "+15550142011")


async def test_greeting_reply_barge_in_and_ordered_transcript(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant(agent_name="Riley")
    caller_number = "+15550142001"
    engine.sim.add_script(
        caller_number,
        Script(
            transcripts=("What does my auto policy cover?", "Sorry, one more thing."),
            replies=(Reply(text=LONG_REPLY), Reply(text="Of course, go ahead.")),
        ),
    )
    script = CallScript(
        from_number=caller_number,
        to_number=number,
        steps=(
            WaitForAgent(timeout=15),
            Speak("What does my auto policy cover?"),
            BargeIn(after_ms=1200, text="Sorry, one more thing."),
            WaitForAgent(timeout=15),
            HangUp(),
        ),
    )
    result = await engine.caller().place_call(script, timeout=60)
    hung_up_at = time.monotonic()

    assert result.violations == []
    stream = result.streams[0]
    assert stream.custom_parameters["token"]
    greeting_ms = result.first_audio_after_start_ms()
    assert greeting_ms is not None
    assert greeting_ms < 1000  # the greeting was generated before the stream started
    assert len(stream.clears) == 1  # the barge-in cleared Twilio's buffer once

    # the engine told the model exactly what was heard
    session = engine.sim.sessions[0]
    sent_types = [event["type"] for _, event in session.received]
    assert "session.update" in sent_types
    truncates = [e for _, e in session.received if e["type"] == "conversation.item.truncate"]
    assert len(truncates) == 1
    assert 800 <= truncates[0]["audio_end_ms"] <= 3000
    assert session.session_config["audio"]["input"]["format"]["type"] == "audio/pcmu"
    assert "Riley" in session.instructions

    outcome = await _outcome(engine, tenant_id, result.call_sid)
    assert outcome == "caller_hung_up"
    assert time.monotonic() - hung_up_at < 2.0
    turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
    assert [t.seq for t in turns] == list(range(len(turns)))
    roles_and_text = [(t.role, t.text) for t in turns]
    assert roles_and_text[0][0] == "agent"
    assert "Riley" in roles_and_text[0][1]  # the greeting, first and once
    assert ("caller", "What does my auto policy cover?") in roles_and_text
    assert ("caller", "Sorry, one more thing.") in roles_and_text
    interrupted = [t for t in turns if "interrupted_at_ms" in t.meta]
    assert len(interrupted) == 1
    assert interrupted[0].meta["interrupted_at_ms"] == truncates[0]["audio_end_ms"]
    assert sum(1 for role, text in roles_and_text if "Riley" in text) == 1
    assert any("latency_ms" in t.meta for t in turns if t.role == "agent")
    assert (await engine.pool.report_for(result.call_sid)).barge_ins == 1


def _start(call_sid: str, token: str) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": "MZ" + "1" * 32,
            "start": {
                "accountSid": "AC" + "0" * 32,
                "streamSid": "MZ" + "1" * 32,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {"token": token},
            },
        }
    )


def _media(payload: str, chunk: int = 1) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(chunk + 1),
            "streamSid": "MZ" + "1" * 32,
            "media": {
                "track": "inbound",
                "chunk": str(chunk),
                "timestamp": str(20 * chunk),
                "payload": payload,
            },
        }
    )


async def test_wrong_stream_token_closes_socket_and_nothing_else(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant()
    call_sid = "CA" + "b" * 32
    media_url, _token, signature = await engine.answer(number, call_sid)

    # a handshake without a valid signature is refused outright
    with pytest.raises(InvalidStatus):
        async with connect(media_url, additional_headers={"X-Twilio-Signature": "forged"}):
            pass
    # a signed handshake whose start carries the wrong token is closed with 1008
    async with connect(media_url, additional_headers={"X-Twilio-Signature": signature}) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(_start(call_sid, "wrong"))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
    actor = engine.pool.actors[call_sid]
    assert (await actor.check_health())["phase"] == "waiting"  # the real stream may still come
    record = None
    for _ in range(100):  # the call row is written in the background, off the webhook
        record = await calls.get_call(engine.db, tenant_id, call_sid)
        if record is not None:
            break
        await asyncio.sleep(0.05)
    assert record is not None
    assert record.outcome is None
    assert record.streams == 0


async def test_malformed_frames_and_media_before_start_lose_nothing(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant()
    call_sid = "CA" + "c" * 32
    media_url, token, signature = await engine.answer(number, call_sid)
    silence = base64.b64encode(b"\xff" * 160).decode()
    async with connect(media_url, additional_headers={"X-Twilio-Signature": signature}) as ws:
        await ws.send(_media(silence, 0))  # media before start: dropped
        await ws.send("{not json")
        await ws.send(json.dumps([1, 2, 3]))
        await ws.send(json.dumps({"event": "media", "media": {"payload": "@@not base64@@"}}))
        await ws.send(json.dumps({"event": "surprise", "surprise": {}}))
        await ws.send(json.dumps({"event": "dtmf", "dtmf": {"digit": "12"}}))
        await ws.send(_start(call_sid, token))
        for chunk in range(1, 11):
            await ws.send(_media(silence, chunk))
        await ws.send(
            json.dumps(
                {
                    "event": "dtmf",
                    "sequenceNumber": "20",
                    "dtmf": {"track": "inbound_track", "digit": "5"},
                }
            )
        )
        heard = 0
        deadline = time.monotonic() + 10
        while heard == 0 and time.monotonic() < deadline:  # the greeting still plays
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            heard += message["event"] == "media"
        await ws.send(
            json.dumps(
                {
                    "event": "stop",
                    "sequenceNumber": "30",
                    "stop": {"accountSid": "AC" + "0" * 32, "callSid": call_sid},
                }
            )
        )
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert heard == 1
    actor = engine.pool.actors[call_sid]
    assert await actor.wait_done(2) == "caller_hung_up"
    report = await engine.pool.report_for(call_sid)
    assert report.frames_in == 10
    assert report.dropped_frames == 1
    turns = await calls.load_turns(engine.db, tenant_id, call_sid)
    assert ("dtmf", "5") in [(t.role, t.text) for t in turns]


async def test_model_refusing_the_key_ends_call_with_apology(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant()
    engine.sim.fail_next_session(401)
    script = CallScript(
        from_number="+15550142004", to_number=number, steps=(WaitForAgent(timeout=5), HangUp())
    )
    result = await engine.caller().place_call(script, timeout=30)
    assert await _outcome(engine, tenant_id, result.call_sid) == "model_failed"
    assert result.said
    assert "technical trouble" in result.said[-1]
    actor = engine.pool.actors[result.call_sid]
    assert await actor.wait_done(2) == "model_failed"  # no stuck actor
    assert (await engine.pool.report_for(result.call_sid)).outcome == "model_failed"
