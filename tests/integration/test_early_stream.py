"""Twilio may open the media stream before its call reaches the call actor (the pool answers
the webhook before `prepare` arrives). Such a stream is let in, waits for its call, and only
then has its signature checked; a stream for a call that never comes is closed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from actors.media_server import PREPARE_WAIT_S
from engine.sim.realtime_script import Reply, Script
from memory import calls
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, one_turn, running_engine

DELAY_S = 1.0  # the caller connects well within this; the stream waits up to PREPARE_WAIT_S


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        running.pool.prepare_delay_s = DELAY_S
        yield running


async def test_a_stream_that_comes_before_its_call_waits_and_the_call_goes_on(
    engine: Engine,
) -> None:
    tenant_id, number = await engine.new_tenant(agent_name="Riley")
    engine.sim.add_script(
        "+15550144001",
        Script(transcripts=("Hello there.",), replies=(Reply(text="Hi, how can I help?"),)),
    )
    result = await engine.caller().place_call(
        one_turn("+15550144001", number, "Hello there."), timeout=60
    )

    assert result.violations == []
    stream = result.streams[0]
    assert stream.started_at < engine.pool.prepared_at[result.call_sid]  # it came first
    assert stream.first_audio_after_start_ms() is not None
    record = await calls.get_call(engine.db, tenant_id, result.call_sid)
    assert record is not None
    assert record.streams == 1


async def test_an_early_stream_with_a_forged_signature_is_closed_once_its_call_arrives(
    engine: Engine,
) -> None:
    _tenant_id, number = await engine.new_tenant()
    call_sid = "CA" + "e" * 32
    media_url, _token, _signature = await engine.answer(number, call_sid)
    async with connect(media_url, additional_headers={"X-Twilio-Signature": "forged"}) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert closed.value.rcvd.reason == "invalid signature"
    actor = engine.pool.actors[call_sid]
    assert (await actor.check_health())["phase"] == "waiting"  # the real stream may still come
    # the forged stream took nothing: once the call is here, a forged handshake gets HTTP 403
    with pytest.raises(InvalidStatus) as refused:
        async with connect(media_url, additional_headers={"X-Twilio-Signature": "forged"}):
            pass
    assert refused.value.response.status_code == 403


async def test_an_early_stream_for_a_call_that_never_comes_is_closed(engine: Engine) -> None:
    _tenant_id, number = await engine.new_tenant()
    media_url, _token, _signature = await engine.answer(number, "CA" + "f" * 32)
    actor = engine.pool.history[-1]
    nowhere = engine.config.media_url(await actor.start(), "CA" + "0" * 32)
    signature = engine.caller().sign(nowhere, {})
    began = time.monotonic()
    async with connect(nowhere, additional_headers={"X-Twilio-Signature": signature}) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), PREPARE_WAIT_S + 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    assert time.monotonic() - began >= PREPARE_WAIT_S - 0.1
    assert media_url != nowhere


@pytest.mark.parametrize("kind", ["unknown_path", "no_call_sid", "unsigned"])
async def test_a_handshake_that_cannot_be_a_media_stream_is_refused_before_the_upgrade(
    engine: Engine, kind: str
) -> None:
    _tenant_id, number = await engine.new_tenant()
    await engine.answer(number, "CA" + "a" * 32)
    actor = engine.pool.history[-1]
    address = await actor.start()
    media_url = engine.config.media_url(address, "CA" + "1" * 32)
    base = media_url.split("/stream/")[0]
    headers = {"X-Twilio-Signature": engine.caller().sign(media_url, {})}
    if kind == "unknown_path":
        url = f"{base}/admin"
    elif kind == "no_call_sid":
        url = f"{base}/stream/not-a-call"
    else:
        url, headers = media_url, {}
    began = time.monotonic()
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers=headers):
            pass
    assert refused.value.response.status_code == 404
    assert time.monotonic() - began < 0.5  # not held for PREPARE_WAIT_S
