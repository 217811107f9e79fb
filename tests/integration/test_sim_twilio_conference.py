"""The Twilio fake's outbound calls and conferences, driven by the official SDK: Calls.create's
required fields and errors, the call's progress reported to its status callback signed with
the account's token (only the events asked for), and conferences fetched by sid."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from engine.sim.http_server import LoopbackServer
from engine.sim.twilio_phones import Phone, TargetPhones
from engine.sim.twilio_rest import TwilioRestFake

ACCOUNT = "AC" + "5" * 32
TOKEN = "conference-token"
TARGET = "+15550009876"


@pytest.fixture
async def rest() -> AsyncIterator[TwilioRestFake]:
    async with TwilioRestFake(accounts={ACCOUNT: TOKEN}) as fake:
        yield fake


def _client(rest: TwilioRestFake) -> Any:
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = rest.base_url
    return client


async def test_create_call_refuses_what_twilio_refuses(rest: TwilioRestFake) -> None:
    client = _client(rest)
    cases: list[tuple[dict[str, Any], int]] = [
        ({"to": "", "from_": "+15550001111", "twiml": "<Response/>"}, 21201),
        ({"to": TARGET, "from_": "", "twiml": "<Response/>"}, 21213),
        ({"to": TARGET, "from_": "+15550001111"}, 21205),
        ({"to": TARGET, "from_": "+15550001111", "twiml": "<Response/>", "timeout": 0}, 21207),
    ]
    for kwargs, code in cases:
        with pytest.raises(TwilioRestException) as refused:
            await asyncio.to_thread(client.calls.create, **kwargs)
        assert refused.value.code == code, kwargs
    assert rest.calls == {}
    with pytest.raises(TwilioRestException) as unknown:
        await asyncio.to_thread(client.conferences("CF" + "0" * 32).fetch)
    assert unknown.value.status == 404


async def test_a_busy_target_reports_signed_statuses_it_was_asked_for(
    rest: TwilioRestFake,
) -> None:
    seen: list[dict[str, str]] = []

    async def callback(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        url = f"https://engine.example{request.path_qs}"
        signature = request.headers.get("X-Twilio-Signature", "")
        assert RequestValidator(TOKEN).validate(url, form, signature)
        seen.append(form)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/status", callback)
    http = LoopbackServer(app)
    phones = TargetPhones(
        rest,
        webhook_base=await http.start(),
        public_base_url="https://engine.example",
        auth_tokens={ACCOUNT: TOKEN},
    )
    phones.phones[TARGET] = Phone(answer="busy")
    try:
        call = await asyncio.to_thread(
            _client(rest).calls.create,
            to=TARGET,
            from_="+15550001111",
            twiml="<Response><Say>hi</Say></Response>",
            status_callback="https://engine.example/status?x=1",
            status_callback_event=["ringing", "completed"],
        )
        assert call.status == "queued"
        assert call.direction == "outbound-api"
        for _ in range(100):
            if rest.calls[call.sid].status == "busy":
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
    finally:
        await http.stop()
    assert [s["CallStatus"] for s in seen] == ["ringing", "busy"]  # not initiated: not asked
    assert {s["CallSid"] for s in seen} == {call.sid}
    assert seen[0]["Direction"] == "outbound-api"
    fetched = await asyncio.to_thread(_client(rest).calls(call.sid).fetch)
    assert fetched.status == "busy"
