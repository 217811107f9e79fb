"""Engines sharing one database: each drains only its own outbox queue. An engine with another
secret can neither open nor sign the other's deliveries, so it must never claim them - not to
send, not to dead-letter, not even when their lease has run out. Real Postgres, real memory
actors and drains, real receivers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest
from structlog.testing import capture_logs

from actors.memory_actor import MemoryActor
from engine.config import EngineConfig
from engine.secret_box import WEBHOOK_LABEL, SecretBox
from engine.sim.openai_http import OpenAIHttpSimulator
from engine.webhook_sender import WebhookSender
from memory import messages, outbox, outbox_admin
from memory.audit import SYSTEM
from memory.call_records import NewMessage
from memory.db import tenant_tx
from memory.outbox_drain import OutboxDrain, OutboxPolicy
from tests.conftest import PgUrls
from tests.integration.webhook_receiver import WebhookReceiver
from tests.memory_support import SIM_KEY, memory_config, new_tenant, phone, sid, token

HOOK_SECRET = "whsec_queues_" + uuid.uuid4().hex


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


async def agency(pool: asyncpg.Pool, engine_secret: str, url: str) -> str:
    """A tenant whose endpoint's signing secret was sealed by the engine holding
    ``engine_secret`` (its admin API created it)."""
    tenant = await new_tenant(pool)
    sealed = SecretBox(engine_secret, WEBHOOK_LABEL).seal(HOOK_SECRET)
    await outbox_admin.create_endpoint(pool, tenant, url, sealed, ["message.taken"], SYSTEM)
    return tenant


async def rows(pool: asyncpg.Pool, tenant: str) -> list[tuple[str, int, str | None]]:
    """(status, attempts, queue) of the tenant's deliveries."""
    async with tenant_tx(pool, tenant) as conn:
        found = await conn.fetch(
            "SELECT status, attempts, queue FROM outbox WHERE tenant_id = $1",
            uuid.UUID(tenant),
        )
    return [(r["status"], r["attempts"], r["queue"]) for r in found]


async def settled(
    pool: asyncpg.Pool, tenant: str, expected: list[tuple[str, int, str | None]]
) -> None:
    deadline = time.monotonic() + 20
    while (found := await rows(pool, tenant)) != expected:
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)


def engine(pg_urls: PgUrls, engine_secret: str, sim: OpenAIHttpSimulator) -> EngineConfig:
    """An engine's memory config as a deployment has it: its queue derived from its secret."""
    config = memory_config(pg_urls.app, engine_secret, sim, outbox_poll_s=3600)
    return replace(config, outbox_queue=None)


def test_the_queue_is_the_secrets_and_names_it_without_revealing_it() -> None:
    one, other = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    config = EngineConfig(app_database_url="postgresql://x", jwt_secret=one)
    assert config.outbox_queue_name() == replace(config).outbox_queue_name()
    assert config.outbox_queue_name() != replace(config, jwt_secret=other).outbox_queue_name()
    assert one not in config.outbox_queue_name()
    assert replace(config, outbox_queue="east").outbox_queue_name() == "east"
    assert 1 <= len(config.outbox_queue_name()) <= 64  # the column's bound (0022)


async def test_engines_with_different_secrets_never_claim_each_others_deliveries(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    other_secret = secrets.token_urlsafe(48)
    mine, theirs = engine(pg_urls, jwt_secret, sim), engine(pg_urls, other_secret, sim)
    queue_a, queue_b = mine.outbox_queue_name(), theirs.outbox_queue_name()
    assert queue_a != queue_b
    async with (
        WebhookReceiver(secret=HOOK_SECRET) as hooks_a,
        WebhookReceiver(secret=HOOK_SECRET) as hooks_b,
    ):
        tenant_a = await agency(app_pool, jwt_secret, hooks_a.url)
        tenant_b = await agency(app_pool, other_secret, hooks_b.url)
        # Engine B took a message while its drain is down; engine A's drain then runs with
        # free slots and B's delivery due: it must leave it alone.
        note = NewMessage(sid(), phone(), "Hail on the roof")
        await messages.take_message(app_pool, tenant_b, note, outbox_queue=queue_b)
        actor_a = MemoryActor(mine)
        try:
            tok_a = token(jwt_secret, tenant_a)
            await actor_a.take_message(tok_a, NewMessage(sid(), phone(), "New quote"))
            await actor_a.run_outbox()
            await settled(app_pool, tenant_a, [("delivered", 1, queue_a)])
            await asyncio.sleep(0.3)  # and nothing else is claimed
            assert await rows(app_pool, tenant_b) == [("pending", 0, queue_b)]
            assert (len(hooks_a.applied), hooks_a.bad_signatures) == (1, 0)
            assert hooks_b.seen == {}
        finally:
            await actor_a.close()
        # Engine B's drain comes up and delivers its own, signed with the secret it sealed.
        actor_b = MemoryActor(theirs)
        try:
            await actor_b.run_outbox()
            await settled(app_pool, tenant_b, [("delivered", 1, queue_b)])
            assert (len(hooks_b.applied), hooks_b.bad_signatures) == (1, 0)
        finally:
            await actor_b.close()


async def test_another_queues_expired_lease_is_not_dead_lettered(
    app_pool: asyncpg.Pool,
) -> None:
    """A drain of queue B died holding its last attempt; only B's engines may call that dead."""
    async with WebhookReceiver(secret=HOOK_SECRET) as hooks:
        tenant = await agency(app_pool, secrets.token_urlsafe(48), hooks.url)
        queue_a, queue_b = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
        await messages.take_message(
            app_pool, tenant, NewMessage(sid(), phone(), "Glass claim"), outbox_queue=queue_b
        )
        (held,) = await outbox.claim(app_pool, queue_b, 10, lease_s=1, max_attempts=1)
        await asyncio.sleep(1.2)  # B's lease has run out, on its last attempt
        assert await outbox.claim(app_pool, queue_a, 10, lease_s=60, max_attempts=1) == []
        assert await rows(app_pool, tenant) == [("running", 1, queue_b)]
        assert held.tenant_id == tenant
        assert await outbox.claim(app_pool, queue_b, 10, lease_s=60, max_attempts=1) == []
        assert await rows(app_pool, tenant) == [("dead", 1, queue_b)]


async def test_a_delivery_written_before_queues_is_adopted_by_its_first_claim(
    app_pool: asyncpg.Pool,
) -> None:
    async with WebhookReceiver(secret=HOOK_SECRET) as hooks:
        tenant = await agency(app_pool, secrets.token_urlsafe(48), hooks.url)
        await messages.take_message(
            app_pool, tenant, NewMessage(sid(), phone(), "Old one"), outbox_queue="unused"
        )
        async with tenant_tx(app_pool, tenant) as conn:  # as 0022 leaves rows it found
            await conn.execute(
                "UPDATE outbox SET queue = NULL WHERE tenant_id = $1", uuid.UUID(tenant)
            )
        queue = f"adopter-{uuid.uuid4().hex[:8]}"
        claimed = await outbox.claim(app_pool, queue, 1000, lease_s=60, max_attempts=12)
        assert tenant in {c.tenant_id for c in claimed}
        assert await rows(app_pool, tenant) == [("running", 1, queue)]


async def test_a_secret_this_engine_cannot_open_is_dead_lettered_loudly(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool
) -> None:
    """On the engine's own queue a secret sealed under another key means the engine secret
    changed: retrying cannot help, so the delivery is dead with the reason, and an error says
    so - never a silent dead letter."""
    async with WebhookReceiver(secret=HOOK_SECRET) as hooks:
        tenant = await agency(app_pool, secrets.token_urlsafe(48), hooks.url)  # old secret
        queue = f"rotated-{uuid.uuid4().hex[:8]}"
        await messages.take_message(
            app_pool, tenant, NewMessage(sid(), phone(), "Windshield"), outbox_queue=queue
        )
        drain = OutboxDrain(app_pool, jwt_secret, queue, OutboxPolicy(), WebhookSender(5.0))
        try:
            with capture_logs() as logs:
                assert await drain.run_until_idle() == 1
        finally:
            await drain.aclose()
        (row,) = await outbox_admin.list_deliveries(
            app_pool, tenant, status="dead", event_type=None, after=None, limit=5
        )
        assert row.last_error is not None
        assert "sealed under another engine secret" in row.last_error
        assert queue in row.last_error
        errors = [e for e in logs if e["event"] == "outbox_secret_unopenable"]
        assert [(e["log_level"], e["queue"], e["tenant_id"]) for e in errors] == [
            ("error", queue, tenant)
        ]
        assert hooks.seen == {}
