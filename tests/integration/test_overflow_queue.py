"""Twilio's queue as a tenant's overflow (engine.overflow "queue"), through the simulators: a
caller who finds the node full holds in the tenant's queue hearing the hold message and is
dequeued onto the agent when a call slot frees; a caller who hangs up in the queue is
forgotten, never dequeued; a caller past the max wait leaves the queue and hears the polite
message. Bad input to the queue's webhooks is refused and changes nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from engine import twiml
from engine.overflow import Overflow, queue_name
from engine.sim.caller_result import CallResult
from engine.sim.twilio_caller import CallScript, HangUp, Pause, WaitForAgent
from memory import overflow_settings
from memory.audit import SYSTEM
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine

MAX_WAIT_S = 60


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        running.pool.capacity = 1  # the node holds one call
        yield running


async def _queue_tenant(engine: Engine) -> tuple[str, str]:
    tenant_id, number = await engine.new_tenant()
    assert await overflow_settings.set_overflow(
        engine.db, tenant_id, Overflow("queue", MAX_WAIT_S), actor=SYSTEM
    )
    return tenant_id, number


async def _queued(engine: Engine, tenant_id: str) -> object:
    """Callers the tenant's actor holds in its queue."""
    return (await engine.gateway.actor(tenant_id).check_health())["queued_calls"]


async def _hold_node(
    engine: Engine, number: str, seconds: float, from_number: str
) -> asyncio.Task[CallResult]:
    """A call that holds the node's one call slot for `seconds` (running once this returns)."""
    await _until(lambda: engine.pool.live() == 0, "the node to be free")
    script = CallScript((Pause(seconds), HangUp()), from_number=from_number, to_number=number)
    call = asyncio.create_task(engine.caller().place_call(script))
    await _until(lambda: engine.pool.live() == 1, "a call to hold the node")
    return call


async def _until(check: object, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not callable(check) or not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_a_queued_caller_is_dequeued_when_a_slot_frees(engine: Engine) -> None:
    tenant_id, number = await _queue_tenant(engine)
    caller = engine.caller()
    first = await _hold_node(engine, number, 2.0, "+15550400001")
    waiting = asyncio.create_task(
        caller.place_call(
            CallScript(
                (Pause(0.8), HangUp()),
                from_number="+15550400002",
                to_number=number,
            ),
            timeout=30,
        )
    )
    impatient = asyncio.create_task(
        caller.place_call(
            CallScript(
                (HangUp(),),
                from_number="+15550400003",
                to_number=number,
                queue_patience_s=0.5,
            ),
            timeout=30,
        )
    )
    gave_up: CallResult = await impatient
    await first
    served: CallResult = await waiting

    # the caller who found the node full held in the tenant's queue, then reached the agent
    assert "<Enqueue" in served.twiml[0]
    assert queue_name(tenant_id) in served.twiml[0]
    assert twiml.QUEUE_HOLD in served.said
    assert served.queue_result == "dequeued"
    assert served.queued_at is not None
    assert served.left_queue_at is not None
    assert served.left_queue_at - served.queued_at > 1.0  # held until the first call ended
    assert len(served.streams) == 1
    assert served.heard_ms > 0
    assert not served.violations, served.violations
    # ... dequeued through the Queue Members resource, onto /twilio/voice with its queue time
    dequeues = [r for r in engine.rest.requests if r.method == "POST" and "/Members/" in r.path]
    assert [r.path.rsplit("/", 1)[1] for r in dequeues] == [f"{served.call_sid}.json"]
    assert dequeues[0].status == 200
    assert "/twilio/voice?tenant=" in dequeues[0].params["Url"]
    assert "&since=" in dequeues[0].params["Url"]
    # the caller who hung up in the queue was told to the action, forgotten, never dequeued
    assert gave_up.queue_result == "hangup"
    assert gave_up.streams == []
    assert not gave_up.violations, gave_up.violations
    assert await _queued(engine, tenant_id) == 0
    for queue in engine.rest.queues.by_sid.values():
        assert queue.members == {}
        assert queue.name == queue_name(tenant_id)


async def test_a_caller_past_the_max_wait_leaves_with_the_polite_message(engine: Engine) -> None:
    tenant_id, number = await _queue_tenant(engine)
    first = await _hold_node(engine, number, 2.5, "+15550400011")
    # entered the queue MAX_WAIT_S - 1 s ago (a caller dequeued into a node full again)
    since = int(time.time()) - MAX_WAIT_S + 1
    late = engine.caller(voice_path=f"/twilio/voice?tenant={tenant_id}&since={since}")
    result = await late.place_call(
        CallScript((WaitForAgent(timeout=15),), from_number="+15550400012", to_number=number),
        timeout=20,
    )
    await first
    assert "<Enqueue" in result.twiml[0]
    assert result.queue_result == "leave"
    assert result.streams == []
    assert result.refused_say == twiml.QUEUE_GAVE_UP
    assert not result.violations, result.violations
    assert await _queued(engine, tenant_id) == 0
    # past it already, a dequeued caller who finds the node full again is not queued again
    gone = engine.caller(voice_path=f"/twilio/voice?since={since - 5}")
    first = await _hold_node(engine, number, 1.0, "+15550400013")
    over = await gone.place_call(
        CallScript((WaitForAgent(timeout=15),), from_number="+15550400014", to_number=number)
    )
    await first
    assert "<Enqueue" not in over.twiml[0]
    assert over.refused_say == twiml.QUEUE_GAVE_UP


async def test_bad_queue_webhooks_are_refused(engine: Engine) -> None:
    tenant_id, _ = await _queue_tenant(engine)
    caller = engine.caller()
    now = int(time.time())
    good = {
        "CallSid": "CA" + uuid.uuid4().hex,
        "AccountSid": caller.account_sid,
        "QueueSid": "QU" + uuid.uuid4().hex,
        "QueueTime": "3",
    }
    base = engine.config.public_base_url

    async def post(path: str, params: dict[str, str], *, sign: bool = True) -> httpx.Response:
        url = base + path
        headers = {"X-Twilio-Signature": caller.sign(url, params)} if sign else {}
        async with httpx.AsyncClient() as http:
            return await http.post(url, data=params, headers=headers)

    wait = f"/twilio/queue-wait?tenant={tenant_id}"
    ok = await post(f"{wait}&since={now}&max={MAX_WAIT_S}", good)
    assert ok.status_code == 200
    assert twiml.QUEUE_HOLD in ok.text
    assert "<Pause" in ok.text
    assert await _queued(engine, tenant_id) == 1
    hung_up = await post(
        f"/twilio/queue-left?tenant={tenant_id}", {**good, "QueueResult": "hangup"}
    )
    assert hung_up.status_code == 200
    assert await _queued(engine, tenant_id) == 0
    over = await post(f"{wait}&since={now - MAX_WAIT_S}&max={MAX_WAIT_S}", good)
    assert "<Leave" in over.text
    for path, params, code in [
        (f"{wait}&since={now}&max={MAX_WAIT_S}", good, 403),  # unsigned
        (f"{wait}&since=yesterday&max={MAX_WAIT_S}", good, 400),
        (f"{wait}&since={now - 86400 * 7}&max={MAX_WAIT_S}", good, 400),
        (f"{wait}&max={MAX_WAIT_S}", good, 400),
        (f"{wait}&since={now}&max=5", good, 400),
        (f"{wait}&since={now}", good, 400),
        (f"{wait}&since={now}&max={MAX_WAIT_S}", {**good, "QueueSid": "QU-nope"}, 400),
        (f"{wait}&since={now}&max={MAX_WAIT_S}", {**good, "CallSid": "CA1"}, 400),
        (f"/twilio/queue-left?tenant={tenant_id}", {**good, "CallSid": "nope"}, 400),
    ]:
        response = await post(path, params, sign=code != 403)
        assert response.status_code == code, (path, params, response.text)
    assert await _queued(engine, tenant_id) == 0  # nothing was queued by any of them
    left = await post(f"/twilio/queue-left?tenant={tenant_id}", {**good, "QueueResult": "leave"})
    assert twiml.QUEUE_GAVE_UP in left.text
    error = await post(f"/twilio/queue-left?tenant={tenant_id}", {**good, "QueueResult": "error"})
    assert twiml.BUSY in error.text
