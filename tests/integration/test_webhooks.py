"""The Twilio webhooks in-process (no Ray): the real FastAPI app, real tenant actor and memory
actor classes running in this event loop, real Postgres. Only the call pool is replaced, by a
claimer that records what it was asked to claim."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from xml.etree import ElementTree

import asyncpg
import httpx
import pytest
from twilio.request_validator import RequestValidator

from actors.memory_actor import MemoryActor
from actors.ports import CallSetup, NodeFull
from actors.tenant_actor import TEST_CALLER
from admin_api import context
from admin_api.app import build_app
from admin_api.context import WebhookContext
from admin_api.forms import MAX_FORM_BYTES
from admin_api.webhooks import MAX_RESUMES, RESUME_WINDOW_S
from engine.config import EngineConfig
from engine.secret_box import TWILIO_LABEL, SecretBox
from memory import calls, tenants
from memory.call_records import CallEnd, CallStart
from memory.db import tenant_tx
from tests.conftest import PgUrls
from tests.faults.tcp_proxy import pg_proxy, via_proxy
from tests.integration.local_gateway import LocalGateway
from tests.memory_support import UNDRAINED

BASE = "https://voice.example.com"
TOKEN = "tenant-auth-token"


@dataclass
class RecordingClaimer:
    claims: list[CallSetup] = field(default_factory=list)
    full: str | None = None  # set: the pool refuses every claim, the node is full

    async def claim(self, setup: CallSetup) -> str:
        if self.full is not None:
            raise NodeFull(self.full)
        self.claims.append(setup)
        return f"wss://media.example.com/{len(self.claims)}/stream"

    async def room(self) -> int:
        return 0 if self.full is not None else 1


@dataclass
class Harness:
    client: httpx.AsyncClient
    claimer: RecordingClaimer
    tenant_id: str
    number: str
    pool: asyncpg.Pool
    gateway: LocalGateway

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


@contextlib.asynccontextmanager
async def webhook_harness(
    app_url: str, app_pool: asyncpg.Pool, jwt_secret: str
) -> AsyncIterator[Harness]:
    """The webhook app whose replica and actors reach Postgres at `app_url`."""
    number = "+1555" + str(uuid.uuid4().int)[:7]
    tenant_id = await tenants.create_tenant(
        app_pool,
        tenants.NewTenant(
            name="Webhook Agency",
            numbers=(number,),
            twilio_auth_token=TOKEN,
            max_concurrent_calls=2,
        ),
        tokens=SecretBox(jwt_secret, TWILIO_LABEL),
    )
    config = EngineConfig(
        app_database_url=app_url,
        jwt_secret=jwt_secret,
        public_base_url=BASE,
    )
    claimer = RecordingClaimer()
    memory = MemoryActor(config)
    gateway = LocalGateway(config, memory, claimer, active=lambda: len(claimer.claims))
    ctx = WebhookContext(config, gateway)
    transport = httpx.ASGITransport(app=build_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Harness(client, claimer, tenant_id, number, app_pool, gateway)
    await ctx.close()
    await gateway.close()
    await memory.close()


@pytest.fixture
async def harness(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str
) -> AsyncIterator[Harness]:
    async with webhook_harness(pg_urls.app, app_pool, jwt_secret) as running:
        yield running


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
async def test_bad_signature_is_not_in_service_with_no_side_effect(
    harness: Harness, mode: str
) -> None:
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
    assert response.status_code == 200
    assert _verbs(response.text) == ["Say", "Hangup"]
    assert "not in service" in response.text
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


async def test_a_full_node_gives_the_caller_the_tenants_overflow(harness: Harness) -> None:
    harness.claimer.full = "all 100 call slots live"
    busy = await harness.post("/twilio/voice", _call_params(harness.number))
    assert _verbs(busy.text) == ["Say", "Hangup"]
    assert "busy" in busy.text
    # the refused call holds no place under the tenant's cap
    await tenants.set_call_control(harness.pool, harness.tenant_id, fallback_number="+15550007777")
    await harness.gateway.reload(harness.tenant_id)
    moved = await harness.post("/twilio/voice", _call_params(harness.number))
    assert _verbs(moved.text) == ["Say", "Dial"]
    dial = ElementTree.fromstring(moved.text).find("Dial")
    assert dial is not None
    assert dial.text == "+15550007777"
    assert dial.get("action") == f"{BASE}/twilio/dial-status?tenant={harness.tenant_id}"
    harness.claimer.full = None
    for _ in range(2):  # the tenant's cap of 2 is whole again
        ok = await harness.post("/twilio/voice", _call_params(harness.number))
        assert "Connect" in _verbs(ok.text)
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
        harness.pool,
        harness.tenant_id,
        CallStart(params["CallSid"], "+1555", harness.number),
        outbox_queue=UNDRAINED,
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
        await calls.start_call(
            harness.pool, harness.tenant_id, CallStart(sid, "+1", "+2"), outbox_queue=UNDRAINED
        )
        if outcome is not None:
            await calls.finish_call(
                harness.pool, harness.tenant_id, sid, CallEnd(outcome), outbox_queue=UNDRAINED
            )
        response = await harness.post(url, params)
        assert response.status_code == 200
        assert _verbs(response.text) == verbs, outcome
    other = str(uuid.uuid4())
    forged = await harness.post(
        f"/twilio/stream-ended?tenant={other}", _call_params(harness.number)
    )
    assert forged.status_code == 403


# --- replays, hostile input, database outages ----------------------------------------------------


def _resumes(harness: Harness) -> list[CallSetup]:
    return [c for c in harness.claimer.claims if c.attempt > 0]


async def _lost_stream(harness: Harness) -> dict[str, str]:
    """A call admitted, its row written, and its stream lost: what Twilio's <Connect action>
    then posts."""
    params = _call_params(harness.number)
    assert "Connect" in _verbs((await harness.post("/twilio/voice", params)).text)
    sid = params["CallSid"]
    await calls.start_call(
        harness.pool, harness.tenant_id, CallStart(sid, "+1", "+2"), outbox_queue=UNDRAINED
    )
    await calls.finish_call(
        harness.pool, harness.tenant_id, sid, CallEnd("stream_lost"), outbox_queue=UNDRAINED
    )
    return {**params, "CallStatus": "in-progress"}


async def test_a_replayed_stream_ended_claims_at_most_the_allowed_resumes(
    harness: Harness,
) -> None:
    params = await _lost_stream(harness)
    url = f"/twilio/stream-ended?tenant={harness.tenant_id}"
    answers = await asyncio.gather(*(harness.post(url, params) for _ in range(18)))
    assert {a.status_code for a in answers} == {200}
    resumed = _resumes(harness)
    assert 1 <= len(resumed) <= MAX_RESUMES
    assert sorted(c.attempt for c in resumed) == list(range(1, len(resumed) + 1))
    assert sum("Connect" in _verbs(a.text) for a in answers) == len(resumed)
    # more replays, one at a time, claim nothing more
    for _ in range(5):
        await harness.post(url, params)
    assert len(_resumes(harness)) == len(resumed)


async def test_a_call_resumes_only_while_live_or_just_after_its_stream_was_lost(
    harness: Harness,
) -> None:
    url = f"/twilio/stream-ended?tenant={harness.tenant_id}"
    late = await _lost_stream(harness)
    async with tenant_tx(harness.pool, harness.tenant_id) as conn:
        await conn.execute(
            "UPDATE calls SET ended_at = now() - make_interval(secs => $2) WHERE call_sid = $1",
            late["CallSid"],
            RESUME_WINDOW_S + 5,
        )
    answer = await harness.post(url, late)
    assert _verbs(answer.text) == ["Say", "Hangup"]
    completed = await _lost_stream(harness)
    status = {**completed, "CallStatus": "completed", "SequenceNumber": "9"}
    assert (await harness.post("/twilio/status", status)).status_code == 204
    answer = await harness.post(url, completed)
    assert _verbs(answer.text) == ["Say", "Hangup"]
    assert _resumes(harness) == []
    fresh = await _lost_stream(harness)
    assert _verbs((await harness.post(url, fresh)).text) == ["Connect"]


async def test_a_resume_counts_against_the_tenant_cap(harness: Harness) -> None:
    for _ in range(2):  # the tenant's cap
        ok = await harness.post("/twilio/voice", _call_params(harness.number))
        assert "Connect" in _verbs(ok.text)
    # a live call this tenant actor never admitted (it was restarted since) loses its actor
    params = _call_params(harness.number, CallStatus="in-progress")
    sid = params["CallSid"]
    await calls.start_call(
        harness.pool, harness.tenant_id, CallStart(sid, "+1", "+2"), outbox_queue=UNDRAINED
    )
    answer = await harness.post(f"/twilio/stream-ended?tenant={harness.tenant_id}", params)
    assert _verbs(answer.text) == ["Say", "Hangup"]
    assert _resumes(harness) == []


@pytest.mark.parametrize("ended_by", ["twilio_status", "call_outcome"])
async def test_a_replayed_voice_after_the_call_ended_claims_nothing(
    harness: Harness, ended_by: str
) -> None:
    params = _call_params(harness.number)
    first = await harness.post("/twilio/voice", params)
    assert "Connect" in _verbs(first.text)
    sid = params["CallSid"]
    if ended_by == "twilio_status":
        status = {**params, "CallStatus": "completed", "SequenceNumber": "4"}
        assert (await harness.post("/twilio/status", status)).status_code == 204
    else:
        await calls.start_call(
            harness.pool, harness.tenant_id, CallStart(sid, "+1", "+2"), outbox_queue=UNDRAINED
        )
        await calls.finish_call(
            harness.pool, harness.tenant_id, sid, CallEnd("caller_hung_up"), outbox_queue=UNDRAINED
        )
        await harness.gateway.release(harness.tenant_id, sid)
    replay = await harness.post("/twilio/voice", params)
    assert replay.status_code == 200
    assert _verbs(replay.text) == ["Hangup"]
    assert len(harness.claimer.claims) == 1
    unsigned = await harness.post("/twilio/voice", params, sign=False)
    assert "not in service" in unsigned.text


async def test_the_replay_check_reads_one_tenant_in_one_statement(
    harness: Harness, pg_urls: PgUrls
) -> None:
    """memory.calls.call_over (migration 0031): the ended call is over for its tenant only,
    and the tenant it set does not outlive its statement on the connection."""
    params = _call_params(harness.number)
    sid = params["CallSid"]
    await harness.post("/twilio/voice", params)
    await harness.post(
        "/twilio/status", {**params, "CallStatus": "completed", "SequenceNumber": "1"}
    )
    other = str(uuid.uuid4())
    conn = await asyncpg.connect(pg_urls.app)
    try:
        over = "SELECT call_over($1::uuid, $2, ARRAY['completed'])"
        assert await conn.fetchval(over, harness.tenant_id, sid) is True
        assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") in ("", None)
        assert await conn.fetchval(over, other, sid) is False
        assert await conn.fetchval("SELECT count(*) FROM calls") == 0  # no tenant: RLS hides all
    finally:
        await conn.close()
    assert await calls.call_over(harness.pool, harness.tenant_id, sid)
    assert not await calls.call_over(harness.pool, other, sid)


async def test_unsigned_voice_answers_alike_for_customer_and_unknown_numbers(
    harness: Harness,
) -> None:
    unknown = await harness.post("/twilio/voice", _call_params("+19990000001"), sign=False)
    customer = await harness.post("/twilio/voice", _call_params(harness.number), sign=False)
    forged = await harness.post(
        "/twilio/voice", _call_params("+19990000001"), token="someone-elses-token"
    )
    assert unknown.status_code == customer.status_code == forged.status_code == 200
    assert unknown.text == customer.text == forged.text
    assert "not in service" in unknown.text
    assert harness.claimer.claims == []


@pytest.mark.parametrize(
    "body",
    [
        b"To=%2B1555%00",  # NUL
        b"From=%ED%A0%80",  # a lone surrogate, as UTF-8 bytes
        b"To=%FF%FE",  # not UTF-8
        b"Caller%00=x",  # NUL in a name
    ],
)
async def test_unstorable_characters_in_a_form_are_400_before_any_lookup(
    harness: Harness, body: bytes
) -> None:
    sid = "CallSid=CA" + uuid.uuid4().hex
    response = await harness.client.post(
        "/twilio/voice",
        content=sid.encode() + b"&" + body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert "Traceback" not in response.text
    assert harness.claimer.claims == []


async def test_voice_during_a_database_outage_uses_the_cached_number_or_apologises(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context, "NUMBER_CACHE_TTL_S", 0.0)  # every lookup goes to Postgres
    async with (
        pg_proxy(pg_urls.app) as proxy,
        webhook_harness(via_proxy(pg_urls.app, proxy), app_pool, jwt_secret) as harness,
    ):
        assert "Connect" in _verbs(
            (await harness.post("/twilio/voice", _call_params(harness.number))).text
        )
        proxy.refusing = True  # the database goes away
        proxy.drop_all()
        cached = await harness.post("/twilio/voice", _call_params(harness.number))
        assert cached.status_code == 200
        assert "Connect" in _verbs(cached.text)
        never_seen = await harness.post("/twilio/voice", _call_params("+19990000002"))
        assert never_seen.status_code == 200
        assert _verbs(never_seen.text) == ["Say", "Hangup"]
        assert "can't take your call" in never_seen.text
        proxy.refusing = False


async def test_a_console_test_call_is_admitted_like_a_call_with_a_signed_handshake(
    harness: Harness,
) -> None:
    sid = "CA" + uuid.uuid4().hex
    admission = await harness.gateway.admit_test(harness.tenant_id, sid)
    assert admission.kind == "admitted"
    assert admission.record_calls is False  # a test call is never recorded
    setup = harness.claimer.claims[0]
    assert (setup.call_sid, setup.from_number) == (sid, TEST_CALLER)
    assert admission.media_token == setup.media_token
    # The handshake is signed as Twilio signs it, with the tenant's token, over the media URL.
    assert RequestValidator(TOKEN).validate(admission.media_url, {}, admission.handshake_signature)
    assert not RequestValidator("other").validate(
        admission.media_url, {}, admission.handshake_signature
    )
    # It counts against the tenant's cap (2) like a phone call.
    ok = await harness.post("/twilio/voice", _call_params(harness.number))
    assert "Connect" in _verbs(ok.text)
    over = await harness.gateway.admit_test(harness.tenant_id, "CA" + uuid.uuid4().hex)
    assert over.kind == "refused"
    assert over.handshake_signature == ""
    await harness.gateway.release(harness.tenant_id, sid)
    again = await harness.gateway.admit_test(harness.tenant_id, "CA" + uuid.uuid4().hex)
    assert again.kind == "admitted"
