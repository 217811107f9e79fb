"""Notion CRM sync through the outbox against the shipped Notion API simulator: callers, calls
(summary, outcome, transcript link), messages and tasks land in the agency's databases, updated
and never duplicated (replays, a stricter rate limit than announced, an outage), paced within
Notion's 3 requests per second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from engine.config import EngineConfig
from engine.secret_box import NOTION_LABEL, SecretBox
from engine.sim.notion import NotionSimulator
from engine.sim.openai_http import OpenAIHttpSimulator
from memory import notion_links, outbox_admin, template_store
from memory.audit import SYSTEM
from memory.call_records import CallEnd, CallStart, NewMessage
from memory.call_templates import READY
from tests.conftest import PgUrls
from tests.integration.test_outbox import OUTAGE_S, statuses
from tests.memory_support import (
    SIM_KEY,
    memory_config,
    new_tenant,
    phone,
    script,
    sid,
    token,
    wait_job,
)

NOTION_TOKEN = "secret_notion_integration_test"
KINDS = ("caller", "call", "message", "task")
# The properties docs/integrations.md asks an agency to give each database.
DOCUMENTED = {
    "caller": {"Name": "title", "Key": "rich_text", "Phone": "phone_number", "Last call": "date"},
    "call": {
        "Name": "title",
        "Key": "rich_text",
        "Caller": "rich_text",
        "Outcome": "select",
        "Started": "date",
        "Duration (s)": "number",
        "Transferred to": "rich_text",
        "Transcript": "url",
        "Summary": "rich_text",
        "Sentiment": "select",
        "Resolution": "select",
        "Topics": "multi_select",
        "Details": "rich_text",
        "Template": "select",
        "Intake": "rich_text",
    },
    "message": {
        "Name": "title",
        "Key": "rich_text",
        "Caller": "rich_text",
        "Phone": "phone_number",
        "Preferred time": "rich_text",
        "Call": "rich_text",
        "Taken": "date",
        "Urgent": "checkbox",
        "Urgent claim": "rich_text",
    },
    "task": {"Name": "title", "Key": "rich_text", "Status": "select", "Phone": "phone_number"},
}


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


@pytest.fixture
async def notion(app_pool: asyncpg.Pool) -> AsyncIterator[NotionSimulator]:
    async with NotionSimulator() as server:
        yield server
    # Unlink the test's tenants: a delivery left behind dies instead of reaching for the
    # real Notion from a later test's drain.
    for tenant in server.tenants:
        await notion_links.delete_link(app_pool, tenant, SYSTEM)


def config(
    pg_urls: PgUrls, secret: str, sim: OpenAIHttpSimulator, notion: NotionSimulator
) -> EngineConfig:
    return memory_config(
        pg_urls.app,
        secret,
        sim,
        notion_api_base_url=notion.base_url,
        public_base_url="https://voice.example.com",
        outbox_poll_s=0.05,
        outbox_backoff_s=0.3,
        outbox_max_backoff_s=max(0.5, OUTAGE_S / 4),
        outbox_max_attempts=40,
        outbox_timeout_s=5.0,
    )


async def linked_tenant(
    pool: asyncpg.Pool, secret: str, notion: NotionSimulator, *, strict: bool = False
) -> tuple[str, dict[str, str]]:
    """A tenant linked to four new databases; `strict` ones have only the documented
    properties and refuse any other, as Notion does."""
    tenant = await new_tenant(pool)
    dbs = {
        kind: notion.add_database(NOTION_TOKEN, DOCUMENTED[kind] if strict else None)
        for kind in KINDS
    }
    sealed = SecretBox(secret, NOTION_LABEL).seal(NOTION_TOKEN)
    databases = (dbs["caller"], dbs["call"], dbs["message"], dbs["task"])
    await notion_links.set_link(pool, tenant, sealed, databases, SYSTEM)
    notion.tenants.append(tenant)
    return tenant, dbs


async def settled(
    actor: MemoryActor, pool: asyncpg.Pool, tenant: str, n: int, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while (await statuses(pool, tenant)).get("delivered", 0) < n:
        assert time.monotonic() < deadline, await statuses(pool, tenant)
        await actor.run_outbox()
        await asyncio.sleep(0.05)


async def test_a_call_and_its_message_land_in_notion_once(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    notion: NotionSimulator,
) -> None:
    actor_config = config(pg_urls, jwt_secret, sim, notion)
    actor = MemoryActor(actor_config)
    try:
        tenant, dbs = await linked_tenant(app_pool, jwt_secret, notion)
        tok = token(jwt_secret, tenant)
        caller, call_sid = phone(), sid()
        await actor.start_call(tok, CallStart(call_sid, caller, "+15550000000"))
        await actor.append_turns(
            tok, call_sid, script([("agent", "Hello."), ("caller", "A tree fell on my car.")])
        )
        await actor.take_message(tok, NewMessage(call_sid, caller, "Tree fell on the car", "Marco"))
        await actor.finish_call(tok, call_sid, CallEnd("caller_hung_up", duration_ms=95_000))
        await actor.enqueue_post_call(tok, call_sid, caller)
        assert (await wait_job(actor, tok, call_sid)).status == "done"
        await settled(actor, app_pool, tenant, 3)  # message.taken, call.ended, call.analyzed

        (person,) = notion.pages_in(dbs["caller"])
        assert NotionSimulator.text(person, "Name") == "Marco"
        assert person["properties"]["Phone"] == {"phone_number": caller}
        (call,) = notion.pages_in(dbs["call"])
        props = call["properties"]
        assert props["Outcome"] == {"select": {"name": "caller_hung_up"}}
        assert props["Duration (s)"] == {"number": 95}
        assert props["Transcript"] == {"url": f"https://voice.example.com/api/v1/calls/{call_sid}"}
        assert NotionSimulator.text(call, "Summary")
        (note,) = notion.pages_in(dbs["message"])
        assert NotionSimulator.text(note, "Name") == "Tree fell on the car"
        (task,) = notion.pages_in(dbs["task"])
        assert NotionSimulator.text(task, "Name") == "Call back Marco"

        # Staff close the task in Notion; then every delivery is replayed: pages are updated,
        # none is added, and the closed task stays closed.
        task["properties"]["Status"] = {"select": {"name": "Done"}}
        rows = await outbox_admin.list_deliveries(
            app_pool, tenant, status=None, event_type=None, after=None, limit=50
        )
        for row in rows:
            queue = actor_config.outbox_queue_name()
            assert await outbox_admin.replay(app_pool, tenant, row.delivery_id, SYSTEM, queue=queue)
        await settled(actor, app_pool, tenant, 3)
        assert [len(notion.pages_in(dbs[k])) for k in KINDS] == [1, 1, 1, 1]
        assert task["properties"]["Status"] == {"select": {"name": "Done"}}
        assert NotionSimulator.text(person, "Name") == "Marco"  # the call.ended did not undo it
    finally:
        await actor.close()


async def test_a_claim_calls_template_fields_are_properties_of_its_notion_page(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    notion: NotionSimulator,
) -> None:
    """Against databases with only the documented properties (Notion refuses any other): the
    claim's fields are added to the calls database, then written one property each."""
    actor = MemoryActor(config(pg_urls, jwt_secret, sim, notion))
    try:
        tenant, dbs = await linked_tenant(app_pool, jwt_secret, notion, strict=True)
        await template_store.save_template(app_pool, tenant, READY["claim_intake"], SYSTEM)
        tok = token(jwt_secret, tenant)
        caller, call_sid = phone(), sid()
        await actor.start_call(tok, CallStart(call_sid, caller, "+15550000000"))
        said = [
            ("agent", "Sunrise Insurance, how can I help?"),
            ("caller", "I need to report an accident. My policy number is PA-77120."),
            ("caller", "It happened yesterday on Route 9, a truck hit my 2021 Toyota Camry."),
            ("caller", "Nobody was injured. The police came and made a report."),
            ("agent", "Sorry to hear it. Could you text us photos of the damage?"),
            ("caller", "Sure, I'll send photos tonight."),
        ]
        await actor.append_turns(tok, call_sid, script(said))
        await actor.take_message(
            tok, NewMessage(call_sid, caller, "Son hurt", urgent="someone was injured")
        )
        await actor.finish_call(tok, call_sid, CallEnd("caller_hung_up", duration_ms=95_000))
        await actor.enqueue_post_call(tok, call_sid, caller)
        assert (await wait_job(actor, tok, call_sid)).status == "done"
        await settled(actor, app_pool, tenant, 3)

        assert [s for *_, s in notion.requests if s == 400] == []
        (call,) = notion.pages_in(dbs["call"])
        props = call["properties"]
        assert props["Template"] == {"select": {"name": READY["claim_intake"].name}}
        assert NotionSimulator.text(call, "Date of loss") == "yesterday"
        assert NotionSimulator.text(call, "Vehicle") == "2021 Toyota Camry"
        assert props["Injuries"] == {"checkbox": False}
        assert props["Police report"] == {"checkbox": True}
        schema = notion.schemas[dbs["call"]]
        assert schema is not None
        assert (schema["Date of loss"], schema["Injuries"]) == ("rich_text", "checkbox")
        (note,) = notion.pages_in(dbs["message"])
        assert note["properties"]["Urgent"] == {"checkbox": True}
    finally:
        await actor.close()


async def test_a_notion_outage_and_a_stricter_rate_limit_lose_and_double_nothing(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    notion: NotionSimulator,
) -> None:
    notion.rate_per_s, notion.burst = 1.0, 1  # stricter than the 3/s the client paces to
    actor = MemoryActor(config(pg_urls, jwt_secret, sim, notion))
    try:
        tenant, dbs = await linked_tenant(app_pool, jwt_secret, notion)
        tok = token(jwt_secret, tenant)
        notion.down_until = time.monotonic() + OUTAGE_S
        caller, call_sid = phone(), sid()
        for n in range(4):
            await actor.take_message(tok, NewMessage(call_sid, caller, f"Question {n}", "Ana"))
        await settled(actor, app_pool, tenant, 4, timeout=OUTAGE_S + 90)
        codes = [status for _, _, _, status in notion.requests]
        assert 503 in codes
        assert 429 in codes  # Retry-After waited out
        assert [len(notion.pages_in(dbs[k])) for k in KINDS] == [1, 0, 4, 4]
    finally:
        await actor.close()


async def test_notion_sync_throughput_stays_within_the_rate_limit(
    pg_urls: PgUrls,
    jwt_secret: str,
    app_pool: asyncpg.Pool,
    sim: OpenAIHttpSimulator,
    notion: NotionSimulator,
) -> None:
    actor = MemoryActor(config(pg_urls, jwt_secret, sim, notion))
    try:
        tenant, dbs = await linked_tenant(app_pool, jwt_secret, notion)
        tok = token(jwt_secret, tenant)
        caller, call_sid = phone(), sid()
        started = time.monotonic()
        for n in range(8):
            await actor.take_message(tok, NewMessage(call_sid, caller, f"Policy change {n}"))
        await settled(actor, app_pool, tenant, 8)
        elapsed = time.monotonic() - started
        times = [at for at, _, _, _ in notion.requests]
        rate = (len(times) - 1) / (times[-1] - times[0])
        print(
            f"notion sync: 8 messages, {len(times)} requests in {elapsed:.1f} s,"
            f" {rate:.2f} req/s (limit 3/s), {8 / elapsed:.2f} messages/s,"
            f" 429s: {sum(1 for *_, s in notion.requests if s == 429)}"
        )
        assert all(status == 200 for *_, status in notion.requests)  # never rate limited
        assert rate <= 3.05
        assert [len(notion.pages_in(dbs[k])) for k in KINDS] == [1, 0, 8, 8]
    finally:
        await actor.close()
