"""The Twilio fake's queues, driven by the official SDK and the simulated caller: `<Enqueue>`
makes the queue and holds the caller on its wait URL (asked again each time its TwiML ends,
with Twilio's queue parameters); a Members update dequeues the caller onto its URL; `<Leave>`
and a caller hanging up reach the `<Enqueue action>` with their QueueResult; Twilio's errors
for a member not in the queue, an unknown queue and a dequeue without a URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from engine.sim.http_server import LoopbackServer
from engine.sim.twilio_caller import CallScript, TwilioCaller
from engine.sim.twilio_rest import TwilioRestFake

ACCOUNT = "AC" + "6" * 32
TOKEN = "queue-token"
PUBLIC = "https://engine.example"


@dataclass
class App:
    """The far side: answers with `<Enqueue>`, a wait TwiML per request, records everything."""

    wait: str = "<Response><Say>hold on</Say><Pause length='0.2'/></Response>"
    seen: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    base: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        url = PUBLIC + request.path_qs
        assert RequestValidator(TOKEN).validate(url, form, request.headers["X-Twilio-Signature"])
        self.seen.setdefault(request.path, []).append(form)
        body = {
            "/voice": "<Response><Enqueue action='/left' waitUrl='/wait'>support</Enqueue>"
            "<Say>after the queue</Say></Response>",
            "/wait": self.wait,
            "/left": f"<Response><Say>left {form.get('QueueResult')}</Say></Response>",
            "/served": "<Response><Say>you are through</Say></Response>",
        }[request.path]
        return web.Response(text=body, content_type="application/xml")


@pytest.fixture
async def rest() -> AsyncIterator[TwilioRestFake]:
    async with TwilioRestFake(accounts={ACCOUNT: TOKEN}) as fake:
        yield fake


@pytest.fixture
async def app() -> AsyncIterator[App]:
    far = App()
    server = web.Application()
    server.router.add_post("/{path:.*}", far.handle)
    async with LoopbackServer(server) as http:
        far.base = http.base_url
        yield far


def _client(rest: TwilioRestFake) -> Any:
    client = Client(ACCOUNT, TOKEN)
    client.api.base_url = rest.base_url
    return client


def _caller(rest: TwilioRestFake, app: App) -> TwilioCaller:
    return TwilioCaller(
        webhook_base=app.base,
        public_base_url=PUBLIC,
        auth_token=TOKEN,
        account_sid=ACCOUNT,
        rest=rest,
        voice_path="/voice",
        status_path="/voice",
    )


async def _member_waiting(rest: TwilioRestFake, count: int = 1) -> str:
    for _ in range(200):
        queues = rest.queues.of_account(ACCOUNT)
        if queues and len(queues[0].members) >= count:
            return queues[0].sid
        await asyncio.sleep(0.01)
    raise AssertionError("nobody entered the queue")


async def test_a_member_update_dequeues_the_caller_onto_its_url(
    rest: TwilioRestFake, app: App
) -> None:
    caller = _caller(rest, app)
    call = asyncio.create_task(caller.place_call(CallScript(()), timeout=10))
    queue_sid = await _member_waiting(rest)
    client = _client(rest)
    [queue] = await asyncio.to_thread(client.queues.list)
    assert (queue.friendly_name, queue.sid, queue.current_size) == ("support", queue_sid, 1)
    assert queue.max_size == 100
    [member] = await asyncio.to_thread(client.queues(queue_sid).members.list)
    front = await asyncio.to_thread(client.queues(queue_sid).members("Front").fetch)
    assert member.call_sid == front.call_sid
    assert member.position == 1
    await asyncio.sleep(0.5)  # the wait URL is asked again each time its TwiML ends
    with pytest.raises(TwilioRestException) as no_url:
        await asyncio.to_thread(client.queues(queue_sid).members(member.call_sid).update, url="")
    assert no_url.value.code == 21205
    dequeued = await asyncio.to_thread(
        client.queues(queue_sid).members(member.call_sid).update,
        url=f"{PUBLIC}/served",
        method="POST",
    )
    assert dequeued.call_sid == member.call_sid
    result = await call
    assert result.queue_result == "dequeued"
    assert result.said[-1] == "you are through"
    assert "after the queue" not in result.said  # the call went on from the URL, not the verb
    waits = app.seen["/wait"]
    assert len(waits) >= 2
    assert waits[0]["QueueSid"] == queue_sid
    assert waits[0]["QueuePosition"] == "1"
    assert waits[0]["CurrentQueueSize"] == "1"
    assert {"QueueTime", "AvgQueueTime", "MaxQueueSize"} <= waits[0].keys()
    assert "/left" not in app.seen
    # gone from the queue: Twilio's 404 for it, and for a queue that does not exist
    for act in (
        lambda: client.queues(queue_sid).members(member.call_sid).update(url=f"{PUBLIC}/x"),
        lambda: client.queues(queue_sid).members("Front").fetch(),
        lambda: client.queues("QU" + "0" * 32).fetch(),
    ):
        with pytest.raises(TwilioRestException) as missing:
            await asyncio.to_thread(act)
        assert missing.value.status == 404
    fetched = await asyncio.to_thread(client.queues(queue_sid).fetch)
    assert fetched.current_size == 0


async def test_leave_and_hang_up_reach_the_enqueue_action(rest: TwilioRestFake, app: App) -> None:
    caller = _caller(rest, app)
    app.wait = "<Response><Say>one moment</Say><Leave/></Response>"
    left = await caller.place_call(CallScript(()), timeout=10)
    assert left.queue_result == "leave"
    assert left.said == ["one moment", "left leave"]
    assert app.seen["/left"][0]["QueueResult"] == "leave"
    app.wait = "<Response><Pause length='5'/></Response>"
    hung = await caller.place_call(CallScript((), queue_patience_s=0.3), timeout=10)
    assert hung.queue_result == "hangup"
    assert app.seen["/left"][1]["QueueResult"] == "hangup"
    assert hung.said == []  # the caller is gone: the action's TwiML is not heard
    [queue] = rest.queues.of_account(ACCOUNT)
    assert queue.members == {}
    assert len(queue.waits) == 2
