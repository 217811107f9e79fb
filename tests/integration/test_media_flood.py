"""A signed media stream that pushes audio faster than real time (a flood: every frame is audio
the model is billed for) is ended within the slack; a real-time caller is never bothered."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from engine.inbound_rate import FRAMES_PER_S, SLACK_S
from memory import calls
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine

SILENCE = base64.b64encode(b"\xff" * 160).decode()


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


async def _flood(ws: ClientConnection, call_sid: str, token: str) -> None:
    """Start the stream, push 400 s of audio as fast as the socket takes it, then listen until
    the engine closes the stream (ConnectionClosed)."""
    sid = "MZ" + "1" * 32
    start = {
        "streamSid": sid,
        "callSid": call_sid,
        "accountSid": "AC" + "0" * 32,
        "customParameters": {"token": token},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    await ws.send(json.dumps({"event": "start", "streamSid": sid, "start": start}))
    for n in range(20_000):
        media = {"track": "inbound", "chunk": str(n), "timestamp": str(n * 20), "payload": SILENCE}
        await ws.send(json.dumps({"event": "media", "streamSid": sid, "media": media}))
    async with asyncio.timeout(15):
        while True:
            await ws.recv()


async def test_a_stream_flooding_audio_is_ended(engine: Engine) -> None:
    tenant_id, number = await engine.new_tenant()
    call_sid = "CA" + "b" * 32
    media_url, token, signature = await engine.answer(number, call_sid)
    async with connect(media_url, additional_headers={"X-Twilio-Signature": signature}) as ws:
        with pytest.raises(ConnectionClosed):
            await _flood(ws, call_sid, token)
    record = None
    for _ in range(100):
        record = await calls.get_call(engine.db, tenant_id, call_sid)
        if record is not None and record.outcome is not None:
            break
        await asyncio.sleep(0.05)
    assert record is not None
    assert record.outcome == "media_flood"
    report = await engine.pool.report_for(call_sid)  # the outcome is written before the report
    assert report.frames_in <= FRAMES_PER_S * (SLACK_S + 2)  # what reached the model
