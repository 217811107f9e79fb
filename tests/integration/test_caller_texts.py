"""The text confirming a caller's message, through the outbox and the Twilio Messaging API (the
shipped REST fake, the real twilio SDK): sent once to a caller who agreed, never to one who did
not, to a withheld or malformed number, or to a number that said STOP (recorded before, or
answered by Twilio as 21610 on the send)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from engine.sim.openai_http import OpenAIHttpSimulator
from engine.sim.twilio_rest import TwilioRestFake
from memory import staff_texts
from memory.call_records import NewMessage
from memory.db import tenant_tx
from tests.conftest import PgUrls
from tests.integration.test_outbox import settled, statuses, until
from tests.integration.test_staff_texts import ACCOUNT, AUTH, agency, config, texts_to
from tests.memory_support import SIM_KEY, phone, sid, token


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


@pytest.fixture
async def rest() -> AsyncIterator[TwilioRestFake]:
    async with TwilioRestFake(accounts={ACCOUNT: AUTH}) as fake:
        yield fake


async def opt_out(pool: asyncpg.Pool, tenant: str, number: str) -> None:
    """As the inbound STOP webhook records it."""
    async with tenant_tx(pool, tenant) as conn:
        await conn.execute(
            "INSERT INTO sms_opt_outs (tenant_id, number) VALUES ($1, $2)",
            uuid.UUID(tenant),
            number,
        )


async def test_a_caller_who_agreed_gets_one_confirmation(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    rest: TwilioRestFake,
) -> None:
    actor = MemoryActor(config(pg_urls, jwt_secret, sim, rest))
    try:
        staff, caller = phone(), phone()
        tenant, agency_number = await agency(app_pool, staff)
        tok = token(jwt_secret, tenant)
        note = NewMessage(
            sid(), caller, "Windshield cracked", "Lee", "tomorrow morning", text_confirmation=True
        )
        message_id = await actor.take_message(tok, note)
        assert await actor.take_message(tok, note) == message_id  # a retried tool: still once
        await until(lambda: len(rest.messages) == 2)
        await actor.run_outbox()
        (text,) = texts_to(rest, caller)
        assert text.startswith("Texting Agency: we have your message (ref ")
        assert "Callback time you asked for: tomorrow morning." in text
        assert text.endswith("Reply STOP to opt out.")
        assert len(text) <= 160  # one SMS segment
        (staff_text,) = texts_to(rest, staff)
        assert text.split("(ref ")[1][:10] == staff_text.split("(ref ")[1][:10]  # one reference
        assert {m["from"] for m in rest.messages} == {agency_number}
        await settled(app_pool, tenant, {"delivered": 2})
    finally:
        await actor.close()


@pytest.mark.parametrize(
    ("caller", "agreed"),
    [
        (phone(), False),  # not asked for
        ("+266696687", True),  # a withheld number (what Twilio sends for "anonymous")
        ("anonymous", True),
        ("5550100", True),  # not E.164: no text to guess at
    ],
)
async def test_no_confirmation_unless_agreed_and_textable(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    rest: TwilioRestFake,
    caller: str,
    agreed: bool,
) -> None:
    actor = MemoryActor(config(pg_urls, jwt_secret, sim, rest))
    try:
        tenant, _ = await agency(app_pool)
        tok = token(jwt_secret, tenant)
        await actor.take_message(tok, NewMessage(sid(), caller, "Hi", text_confirmation=agreed))
        await actor.run_outbox()
        assert await statuses(app_pool, tenant) == {}
        assert rest.messages == []
    finally:
        await actor.close()


async def test_a_caller_who_said_stop_is_not_texted(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    rest: TwilioRestFake,
) -> None:
    actor = MemoryActor(config(pg_urls, jwt_secret, sim, rest))
    try:
        tenant, _ = await agency(app_pool)
        tok = token(jwt_secret, tenant)
        recorded, told_twilio = phone(), phone()
        # A STOP already recorded: nothing is queued for the number.
        await opt_out(app_pool, tenant, recorded)
        await actor.take_message(tok, NewMessage(sid(), recorded, "A", text_confirmation=True))
        await actor.run_outbox()
        assert await statuses(app_pool, tenant) == {}
        # A STOP only Twilio knew of: the send is refused (21610), recorded, never retried,
        # and nothing is queued for the number afterwards.
        rest.opted_out.add(told_twilio)
        await actor.take_message(tok, NewMessage(sid(), told_twilio, "B", text_confirmation=True))
        deadline = time.monotonic() + 10
        while (await statuses(app_pool, tenant)).get("dead") != 1:
            assert time.monotonic() < deadline
            await actor.run_outbox()
        stops = [o.number for o in await staff_texts.list_opt_outs(app_pool, tenant)]
        assert sorted(stops) == sorted([recorded, told_twilio])
        await actor.take_message(tok, NewMessage(sid(), told_twilio, "C", text_confirmation=True))
        await actor.run_outbox()
        assert await statuses(app_pool, tenant) == {"dead": 1}
        assert texts_to(rest, recorded) == []
        assert texts_to(rest, told_twilio) == []
    finally:
        await actor.close()
