"""The outbox end to end: events written with their change, signed webhooks to the agency's
receiver, an outage that loses nothing and applies nothing twice, dead-lettering and replay, a
drain that dies holding a lease, and the lag from event to delivery. Real Postgres, the real
memory actor and its drain, a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from engine.secret_box import WEBHOOK_LABEL, SecretBox
from engine.sim.openai_http import OpenAIHttpSimulator
from memory import outbox, outbox_admin
from memory.audit import SYSTEM
from memory.call_records import CallEnd, CallStart, NewMessage
from tests.conftest import PgUrls
from tests.integration.webhook_receiver import WebhookReceiver
from tests.memory_support import (
    SIM_KEY,
    count,
    memory_config,
    new_tenant,
    phone,
    record_call,
    sid,
    token,
    wait_job,
)

SECRET = "whsec_test_" + uuid.uuid4().hex
# The outage a destination goes through in the outage test. A minute in the issue; shortened
# here by default (the behaviour does not depend on it): NEUROSPHERE_TEST_OUTAGE_S=60 for real.
OUTAGE_S = float(os.environ.get("NEUROSPHERE_TEST_OUTAGE_S", "3"))


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(secret=SECRET) as server:
        yield server


async def add_endpoint(
    pool: asyncpg.Pool, jwt_secret: str, tenant: str, url: str, events: Sequence[str] = ()
) -> str:
    sealed = SecretBox(jwt_secret, WEBHOOK_LABEL).seal(SECRET)
    endpoint = await outbox_admin.create_endpoint(pool, tenant, url, sealed, events, SYSTEM)
    return endpoint.endpoint_id


async def until(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def statuses(pool: asyncpg.Pool, tenant: str) -> dict[str, int]:
    rows = await outbox_admin.list_deliveries(
        pool, tenant, status=None, event_type=None, after=None, limit=200
    )
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


async def settled(pool: asyncpg.Pool, tenant: str, expected: dict[str, int]) -> None:
    """Wait until the tenant's deliveries have exactly the ``expected`` statuses."""
    deadline = time.monotonic() + 20
    while (found := await statuses(pool, tenant)) != expected:
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)


def message(call_sid: str, n: int) -> NewMessage:
    return NewMessage(call_sid, phone(), f"Please call back about claim {n}", "Dana")


async def test_events_reach_the_agency_signed_and_once(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    receiver: WebhookReceiver,
) -> None:
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim, outbox_poll_s=0.05))
    try:
        tenant = await new_tenant(app_pool)
        tok = token(jwt_secret, tenant)
        await add_endpoint(app_pool, jwt_secret, tenant, receiver.url)
        caller = phone()
        lines = [("agent", "Hello, this is Ava."), ("caller", "I hit a deer last night.")]
        call_sid = await record_call(actor, tok, caller, lines)
        # Replays of the same facts add no event: a second start, a second end, a retried message.
        await actor.start_call(tok, CallStart(call_sid, caller, "+15550000000"))
        await actor.finish_call(tok, call_sid, CallEnd("caller_hung_up"))
        note = NewMessage(call_sid, caller, "Claim for the deer collision", "Marco")
        message_id = await actor.take_message(tok, note)
        assert await actor.take_message(tok, note) == message_id
        await actor.enqueue_post_call(tok, call_sid, caller)
        assert (await wait_job(actor, tok, call_sid)).status == "done"
        wanted = {"call.started", "call.ended", "message.taken", "call.analyzed"}
        await until(lambda: {e["type"] for e in receiver.applied.values()} == wanted)
        await asyncio.sleep(0.3)  # nothing more arrives
        assert len(receiver.applied) == 4
        assert receiver.bad_signatures == 0
        assert set(receiver.seen.values()) == {1}
        ended = receiver.of_type("call.ended")[0]["data"]
        assert (ended["call_sid"], ended["outcome"], ended["from"]) == (
            call_sid,
            "caller_hung_up",
            caller,
        )
        taken = receiver.of_type("message.taken")[0]["data"]
        assert (taken["message_id"], taken["caller_name"]) == (message_id, "Marco")
        analyzed = receiver.of_type("call.analyzed")[0]["data"]
        assert analyzed["call_sid"] == call_sid
        assert analyzed["summary"]
        assert isinstance(analyzed["extracted"], dict)
        await settled(app_pool, tenant, {"delivered": 4})
    finally:
        await actor.close()


async def test_an_endpoint_gets_only_the_events_it_asked_for(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    receiver: WebhookReceiver,
) -> None:
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim, outbox_poll_s=0.05))
    try:
        tenant = await new_tenant(app_pool)
        tok = token(jwt_secret, tenant)
        await add_endpoint(app_pool, jwt_secret, tenant, receiver.url, ["transfer.completed"])
        caller = phone()
        plain = sid()
        await actor.start_call(tok, CallStart(plain, caller, "+15550000000"))
        await actor.finish_call(tok, plain, CallEnd("caller_hung_up"))
        moved = sid()
        await actor.start_call(tok, CallStart(moved, caller, "+15550000000"))
        await actor.finish_call(tok, moved, CallEnd("transferred", transferred_to="+15551230000"))
        await until(lambda: len(receiver.applied) == 1)
        await asyncio.sleep(0.3)
        (event,) = receiver.applied.values()
        assert event["type"] == "transfer.completed"
        assert event["data"]["call_sid"] == moved
        assert event["data"]["transferred_to"] == "+15551230000"
    finally:
        await actor.close()


async def test_an_outage_loses_nothing_and_applies_everything_once(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    receiver: WebhookReceiver,
) -> None:
    config = memory_config(
        pg_urls.app,
        jwt_secret,
        sim,
        outbox_poll_s=0.05,
        outbox_backoff_s=0.2,
        outbox_max_backoff_s=max(0.5, OUTAGE_S / 4),
        outbox_max_attempts=50,
    )
    actor = MemoryActor(config)
    try:
        tenant = await new_tenant(app_pool)
        tok = token(jwt_secret, tenant)
        await add_endpoint(app_pool, jwt_secret, tenant, receiver.url)
        receiver.down_until = time.monotonic() + OUTAGE_S
        call_sid = sid()
        await actor.start_call(tok, CallStart(call_sid, phone(), "+15550000000"))
        ids = [await actor.take_message(tok, message(call_sid, n)) for n in range(30)]
        await asyncio.sleep(OUTAGE_S / 2)
        assert receiver.applied == {}  # still down: nothing applied, nothing lost
        assert (await statuses(app_pool, tenant)).get("delivered", 0) == 0
        await until(lambda: len(receiver.applied) == 31, timeout=OUTAGE_S + 30)
        await asyncio.sleep(0.5)
        assert len(receiver.applied) == 31
        assert {e["data"]["message_id"] for e in receiver.of_type("message.taken")} == set(ids)
        assert max(receiver.seen.values()) > 1  # retried through the outage ...
        await settled(app_pool, tenant, {"delivered": 31})  # ... and settled once
        failed = await count(
            app_pool, tenant, "SELECT count(*) FROM outbox_attempts WHERE status_code = 503"
        )
        assert failed == sum(receiver.seen.values()) - 31
    finally:
        await actor.close()


async def test_a_rejected_delivery_is_dead_lettered_then_replayed(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    receiver: WebhookReceiver,
) -> None:
    config = memory_config(pg_urls.app, jwt_secret, sim, outbox_poll_s=0.05)
    actor = MemoryActor(config)
    try:
        tenant = await new_tenant(app_pool)
        tok = token(jwt_secret, tenant)
        await add_endpoint(app_pool, jwt_secret, tenant, receiver.url, ["message.taken"])
        receiver.answer = 422  # retrying cannot fix it: dead at once
        await actor.take_message(tok, message(sid(), 1))
        await until(lambda: sum(receiver.seen.values()) == 1)
        await settled(app_pool, tenant, {"dead": 1})  # written after the answer was read
        (row,) = await outbox_admin.list_deliveries(
            app_pool, tenant, status="dead", event_type=None, after=None, limit=5
        )
        assert (row.attempts, row.last_status) == (1, 422)
        receiver.answer = 200
        queue = config.outbox_queue_name()
        assert await outbox_admin.replay(app_pool, tenant, row.delivery_id, SYSTEM, queue=queue)
        await actor.run_outbox()
        await until(lambda: len(receiver.applied) == 1)
        detail = await outbox_admin.get_delivery(app_pool, tenant, row.delivery_id)
        assert detail is not None
        assert detail.status == "delivered"
        assert [a.status_code for a in detail.history] == [422, 200]
        assert next(iter(receiver.applied)) == row.event_id  # the same idempotency key
    finally:
        await actor.close()


async def test_a_drain_that_dies_mid_delivery_is_taken_over_once(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    receiver: WebhookReceiver,
) -> None:
    tenant = await new_tenant(app_pool)
    await add_endpoint(app_pool, jwt_secret, tenant, receiver.url, ["message.taken"])
    from memory import messages

    config = memory_config(pg_urls.app, jwt_secret, sim, outbox_poll_s=0.05)
    queue = config.outbox_queue_name()
    await messages.take_message(app_pool, tenant, message(sid(), 1), outbox_queue=queue)
    # A drain claims everything due and dies before settling (its lease runs out in 1 s).
    dead = await outbox.claim(app_pool, queue, 1000, lease_s=1, max_attempts=12)
    mine = [c for c in dead if c.tenant_id == tenant]
    assert len(mine) == 1
    actor = MemoryActor(config)
    try:
        await actor.run_outbox()
        assert receiver.applied == {}  # leased to the dead drain: not sent yet
        await until(lambda: len(receiver.applied) == 1, timeout=10)
        # The dead drain's late answer changes nothing: its lease is gone.
        late = outbox.AttemptResult(delivered=False, retryable=True, duration_ms=1.0, error="x")
        await settled(app_pool, tenant, {"delivered": 1})
        assert await outbox.settle(app_pool, mine[0], late, retry_in_s=0, max_attempts=12) is None
        assert await statuses(app_pool, tenant) == {"delivered": 1}
    finally:
        await actor.close()


async def test_outbox_lag_from_event_to_delivery(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    receiver: WebhookReceiver,
) -> None:
    """The lag an agency sees: event committed -> applied by its receiver (p50, p99)."""
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim))  # default 1 s poll
    try:
        tenant = await new_tenant(app_pool)
        tok = token(jwt_secret, tenant)
        await add_endpoint(app_pool, jwt_secret, tenant, receiver.url, ["message.taken"])
        call_sid = sid()
        for n in range(100):
            await actor.take_message(tok, message(call_sid, n))
            await asyncio.sleep(0.01)
        await until(lambda: len(receiver.applied) == 100)
        lags = sorted(
            (receiver.applied_at[i] - datetime.fromisoformat(e["created_at"]).timestamp()) * 1000
            for i, e in receiver.applied.items()
        )
        p50, p99 = statistics.median(lags), lags[98]
        print(f"outbox lag event->delivery: p50 {p50:.1f} ms, p99 {p99:.1f} ms (n=100)")
        assert p99 < 1000
    finally:
        await actor.close()


async def test_a_forgotten_caller_is_not_sent_out_afterwards(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    receiver: WebhookReceiver,
) -> None:
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim, outbox_poll_s=0.05))
    try:
        tenant = await new_tenant(app_pool)
        tok = token(jwt_secret, tenant)
        await add_endpoint(app_pool, jwt_secret, tenant, receiver.url)
        receiver.down_until = time.monotonic() + 3600  # nothing gets through yet
        caller, kept = phone(), phone()
        for number in (caller, kept):
            call_sid = sid()
            await actor.start_call(tok, CallStart(call_sid, number, "+15550000000"))
            await actor.take_message(tok, NewMessage(call_sid, number, "Call me back"))
        # Every delivery has failed once and waits for its retry (none is on the wire: one
        # already sent cannot be called back).
        await settled(app_pool, tenant, {"pending": 4})
        await actor.forget_caller(tok, caller)
        receiver.down_until = 0.0
        await until(lambda: len(receiver.applied) == 2)
        await asyncio.sleep(0.3)
        sent = [e["data"] for e in receiver.applied.values()]
        assert {d.get("from") or d.get("caller_number") for d in sent} == {kept}
    finally:
        await actor.close()
