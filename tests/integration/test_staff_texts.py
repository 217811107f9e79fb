"""Texts to the agency's staff through the outbox and the Twilio Messaging API (the shipped
REST fake, the real twilio SDK): sent once per staff number, through an outage, when Twilio's
answer is lost, and never to a number that replied STOP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from engine.config import EngineConfig
from engine.sim.openai_http import OpenAIHttpSimulator
from engine.sim.twilio_rest import TwilioRestFake
from memory import staff_texts, tenants
from memory.audit import SYSTEM
from memory.call_records import NewMessage
from tests.conftest import PgUrls
from tests.integration.test_outbox import OUTAGE_S, settled, statuses, until
from tests.memory_support import SIM_KEY, count, memory_config, phone, sid, token

ACCOUNT = "AC" + "7" * 32
AUTH = "sms-test-token"


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


@pytest.fixture
async def rest() -> AsyncIterator[TwilioRestFake]:
    async with TwilioRestFake(accounts={ACCOUNT: AUTH}) as fake:
        yield fake


def config(
    pg_urls: PgUrls, secret: str, sim: OpenAIHttpSimulator, rest: TwilioRestFake, **kw: object
) -> EngineConfig:
    settings: dict[str, object] = {
        "twilio_api_base_url": rest.base_url,
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": AUTH,
        "outbox_poll_s": 0.05,
        "outbox_backoff_s": 0.2,
        "outbox_max_backoff_s": 1.0,
        "outbox_max_attempts": 40,
    }
    return memory_config(pg_urls.app, secret, sim, **(settings | kw))


async def agency(pool: asyncpg.Pool, *staff: str) -> tuple[str, str]:
    """A tenant with one phone number and the given staff numbers; (tenant id, its number)."""
    number = phone()
    tenant = await tenants.create_tenant(
        pool, tenants.NewTenant(name="Texting Agency", numbers=(number,))
    )
    for person in staff:
        await staff_texts.set_recipient(pool, tenant, person, ["message.taken"], SYSTEM)
    return tenant, number


def texts_to(rest: TwilioRestFake, number: str) -> list[str]:
    return [m["body"] for m in rest.messages if m["to"] == number]


async def test_staff_get_one_text_per_message(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    rest: TwilioRestFake,
) -> None:
    actor = MemoryActor(config(pg_urls, jwt_secret, sim, rest))
    try:
        ana, ben = phone(), phone()
        tenant, agency_number = await agency(app_pool, ana, ben)
        tok = token(jwt_secret, tenant)
        note = NewMessage(
            sid(), phone(), "Rear-ended on I-95, needs a tow", "Marco", "after 3pm", "+15550007777"
        )
        await actor.take_message(tok, note)
        await actor.take_message(tok, note)  # the tool retried: still one message, one text each
        await until(lambda: len(rest.messages) == 2)
        await actor.run_outbox()
        (text,) = texts_to(rest, ana)
        assert texts_to(rest, ben) == [text]
        assert text.startswith("New message from Marco +15550007777: Rear-ended on I-95")
        assert "Best time: after 3pm." in text
        assert "(ref " in text
        assert {m["from"] for m in rest.messages} == {agency_number}
        await settled(app_pool, tenant, {"delivered": 2})
    finally:
        await actor.close()


async def test_a_messaging_outage_delays_texts_but_loses_and_doubles_none(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    rest: TwilioRestFake,
) -> None:
    actor = MemoryActor(
        config(pg_urls, jwt_secret, sim, rest, outbox_max_backoff_s=max(0.5, OUTAGE_S / 4))
    )
    try:
        staff = phone()
        tenant, _ = await agency(app_pool, staff)
        tok = token(jwt_secret, tenant)
        rest.messages_down_until = time.monotonic() + OUTAGE_S
        call_sid = sid()
        for n in range(10):
            await actor.take_message(tok, NewMessage(call_sid, phone(), f"Claim question {n}"))
        await until(lambda: len(texts_to(rest, staff)) == 10, timeout=OUTAGE_S + 30)
        failed = sum(
            1 for r in rest.requests if r.path.endswith("/Messages.json") and r.status == 503
        )
        assert failed >= 10  # every text was tried during the outage
        assert len(set(texts_to(rest, staff))) == 10
        await settled(app_pool, tenant, {"delivered": 10})
    finally:
        await actor.close()


async def test_a_text_whose_answer_was_lost_is_not_sent_again(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    rest: TwilioRestFake,
) -> None:
    actor = MemoryActor(config(pg_urls, jwt_secret, sim, rest, outbox_timeout_s=0.5))
    try:
        staff = phone()
        tenant, _ = await agency(app_pool, staff)
        tok = token(jwt_secret, tenant)
        rest.slow_messages = 1  # Twilio takes the text but its answer never arrives in time
        await actor.take_message(tok, NewMessage(sid(), phone(), "Hail damage on the roof"))
        await until(lambda: any(r.method == "GET" for r in rest.requests), timeout=10)
        deadline = time.monotonic() + 10
        while (await statuses(app_pool, tenant)).get("delivered") != 1:
            assert time.monotonic() < deadline
            await actor.run_outbox()
        assert len(texts_to(rest, staff)) == 1
        attempts = await count(app_pool, tenant, "SELECT count(*) FROM outbox_attempts")
        assert attempts == 2  # timed out, then found already sent
    finally:
        await actor.close()


async def test_a_number_that_said_stop_is_not_texted(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    rest: TwilioRestFake,
) -> None:
    actor = MemoryActor(config(pg_urls, jwt_secret, sim, rest))
    try:
        stopped, active = phone(), phone()
        tenant, _ = await agency(app_pool, stopped, active)
        tok = token(jwt_secret, tenant)
        rest.opted_out.add(stopped)
        await actor.take_message(tok, NewMessage(sid(), phone(), "First"))
        await until(lambda: len(texts_to(rest, active)) == 1)
        deadline = time.monotonic() + 10
        while (await statuses(app_pool, tenant)).get("dead") != 1:
            assert time.monotonic() < deadline
            await actor.run_outbox()
        assert [o.number for o in await staff_texts.list_opt_outs(app_pool, tenant)] == [stopped]
        await actor.take_message(tok, NewMessage(sid(), phone(), "Second"))
        await until(lambda: len(texts_to(rest, active)) == 2)
        sends_to_stopped = [
            r for r in rest.requests if r.method == "POST" and r.params.get("To") == stopped
        ]
        assert len(sends_to_stopped) == 1  # the one that told us; nothing queued after it
        await settled(app_pool, tenant, {"delivered": 2, "dead": 1})
    finally:
        await actor.close()
