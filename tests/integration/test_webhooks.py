"""The Twilio webhooks in-process (no Ray): the real FastAPI app, real tenant actor and memory
actor classes running in this event loop, real Postgres. Only the call pool is replaced, by a
claimer that records what it was asked to claim."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from xml.etree import ElementTree

import asyncpg
import httpx
import pytest
from twilio.request_validator import RequestValidator

from actors.memory_actor import MemoryActor
from actors.ports import CallSetup
from admin_api.app import build_app
from admin_api.context import WebhookContext
from admin_api.forms import MAX_FORM_BYTES
from engine.config import EngineConfig
from memory import calls, tenants
from memory.call_records import CallEnd, CallStart
from tests.conftest import PgUrls
from tests.integration.local_gateway import LocalGateway

BASE = "https://voice.example.com"
TOKEN = "tenant-auth-token"


@dataclass
class RecordingClaimer:
    claims: list[CallSetup] = field(default_factory=list)

    async def claim(self, setup: CallSetup) -> str:
        self.claims.append(setup)
        return f"wss://media.example.com/{len(self.claims)}/stream"


@dataclass
class Harness:
    client: httpx.AsyncClient
    claimer: RecordingClaimer
    tenant_id: str
    number: str
    pool: asyncpg.Pool

    async def post(
        self, path: str, params: dict[str, str], *, token: str = TOKEN, sign: bool = True
    ) -> httpx.Response:
        headers = {}
        if sign:
            headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(
                BASE + path, params
            )
        return await self.client.post(path, data=params, headers=headers)


def _call_params(number: str, **extra: str) -> dict[str, str]:
    return {
        "CallSid": "CA" + uuid.uuid4().hex,
        "AccountSid": "AC" + "1" * 32,
        "From": "+15551230000",
        "To": number,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        "FromCity": "SPRINGFIELD",
        **extra,
    }


@pytest.fixture
async def harness(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str
) -> AsyncIterator[Harness]:
    number = "+1555" + str(uuid.uuid4().int)[:7]
    tenant_id = await tenants.create_tenant(
        app_pool,
        tenants.NewTenant(
            name="Webhook Agency",
            numbers=(number,),
            twilio_auth_token=TOKEN,
            max_concurrent_calls=2,
        ),
    )
    config = EngineConfig(app_database_url=pg_urls.app, jwt_secret=jwt_secret, public_base_url=BASE)
    claimer = RecordingClaimer()
    memory = MemoryActor(config)
    gateway = LocalGateway(config, memory, claimer, active=lambda: len(claimer.claims))
    ctx = WebhookContext(config, gateway)
    transport = httpx.ASGITransport(app=build_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Harness(client, claimer, tenant_id, number, app_pool)
    await ctx.close()
    await gateway.close()
    await memory.close()


def _verbs(xml: str) -> list[str]:
    return [child.tag for child in ElementTree.fromstring(xml)]


async def test_voice_answers_stream_twiml_with_token_and_action(harness: Harness) -> None:
    params = _call_params(harness.number)
    response = await harness.post("/twilio/voice", params)
    assert response.status_code == 200
    root = ElementTree.fromstring(response.text)
    connect = root.find("Connect")
    assert connect is not None
    assert connect.get("action") == f"{BASE}/twilio/stream-ended?tenant={harness.tenant_id}"
    stream = connect.find("Stream")
    assert stream is not None
    assert stream.get("url") == "wss://media.example.com/1/stream"
    token = stream.find("Parameter")
    assert token is not None
    assert token.get("name") == "token"
    assert token.get("value") == harness.claimer.claims[0].media_token
    assert harness.claimer.claims[0].call_sid == params["CallSid"]


async def test_replayed_voice_webhook_gets_same_stream_and_claims_once(harness: Harness) -> None:
    params = _call_params(harness.number)
    first = await harness.post("/twilio/voice", params)
    second = await harness.post("/twilio/voice", params)
    assert first.text == second.text
    assert len(harness.claimer.claims) == 1


@pytest.mark.parametrize("mode", ["missing", "wrong_token", "tampered"])
async def test_bad_signature_is_403_with_no_side_effect(harness: Harness, mode: str) -> None:
    params = _call_params(harness.number)
    if mode == "missing":
        response = await harness.post("/twilio/voice", params, sign=False)
    elif mode == "wrong_token":
        response = await harness.post("/twilio/voice", params, token="not-the-token")
    else:
        signature = RequestValidator(TOKEN).compute_signature(BASE + "/twilio/voice", params)
        tampered = {**params, "From": "+15559999999"}
        response = await harness.client.post(
            "/twilio/voice", data=tampered, headers={"X-Twilio-Signature": signature}
        )
    assert response.status_code == 403
    assert harness.claimer.claims == []


async def test_unknown_number_is_not_in_service(harness: Harness) -> None:
    response = await harness.post("/twilio/voice", _call_params("+19990000000"))
    assert response.status_code == 200
    assert _verbs(response.text) == ["Say", "Hangup"]
    assert "not in service" in response.text
    assert harness.claimer.claims == []


async def test_over_the_cap_gets_polite_refusal(harness: Harness) -> None:
    for _ in range(2):
        ok = await harness.post("/twilio/voice", _call_params(harness.number))
        assert "Connect" in _verbs(ok.text)
    refused = await harness.post("/twilio/voice", _call_params(harness.number))
    assert _verbs(refused.text) == ["Say", "Hangup"]
    assert "busy" in refused.text
    assert len(harness.claimer.claims) == 2


async def test_malformed_and_oversize_bodies_are_4xx(harness: Harness) -> None:
    bad_sid = await harness.post("/twilio/voice", _call_params(harness.number, CallSid="nope"))
    assert bad_sid.status_code == 400
    garbage = await harness.client.post(
        "/twilio/voice", content=b"\xff\xfe=\x00&&&", headers={"X-Twilio-Signature": "x"}
    )
    assert garbage.status_code == 400
    huge = await harness.client.post(
        "/twilio/voice",
        content=b"a=" + b"b" * (MAX_FORM_BYTES + 1),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413
    assert harness.claimer.claims == []


async def test_status_callback_is_idempotent(harness: Harness) -> None:
    params = _call_params(harness.number)
    await harness.post("/twilio/voice", params)
    await calls.start_call(
        harness.pool, harness.tenant_id, CallStart(params["CallSid"], "+1555", harness.number)
    )
    status = {**params, "CallStatus": "completed", "CallDuration": "17", "SequenceNumber": "3"}
    for _ in range(2):
        response = await harness.post("/twilio/status", status)
        assert response.status_code == 204
    record = await calls.get_call(harness.pool, harness.tenant_id, params["CallSid"])
    assert record is not None
    assert record.twilio_status == "completed"
    assert record.outcome == "twilio_completed"
    forged = await harness.post("/twilio/status", {**status, "SequenceNumber": "4"}, token="x")
    assert forged.status_code == 403


async def test_stream_ended_hangs_up_or_apologises_by_outcome(harness: Harness) -> None:
    url = f"/twilio/stream-ended?tenant={harness.tenant_id}"
    cases = {
        "caller_hung_up": ["Hangup"],
        "model_failed": ["Say", "Hangup"],
        None: ["Connect"],  # not ended on purpose: resumes on a fresh actor
        "stream_lost": ["Connect"],
    }
    for outcome, verbs in cases.items():
        params = _call_params(harness.number, CallStatus="in-progress")
        sid = params["CallSid"]
        await calls.start_call(harness.pool, harness.tenant_id, CallStart(sid, "+1", "+2"))
        if outcome is not None:
            await calls.finish_call(harness.pool, harness.tenant_id, sid, CallEnd(outcome))
        response = await harness.post(url, params)
        assert response.status_code == 200
        assert _verbs(response.text) == verbs, outcome
    other = str(uuid.uuid4())
    forged = await harness.post(
        f"/twilio/stream-ended?tenant={other}", _call_params(harness.number)
    )
    assert forged.status_code == 403
