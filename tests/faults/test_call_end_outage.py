"""Postgres goes away for 30 s while a call is in progress and the call ends during the outage.
When the database is back, everything the call produced is there, once: every turn, the
outcome and the post-call work (summary and memories). The link is cut with a TCP proxy that
refuses new connections and drops live ones, as a database failover does."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Speak, WaitForAgent
from memory import calls, jobs
from tests.conftest import PgUrls
from tests.faults.tcp_proxy import pg_proxy, via_proxy
from tests.integration.engine_harness import running_engine
from tests.memory_support import count, phone

OUTAGE_S = 30.0


async def _turns(app_pool: asyncpg.Pool, tenant_id: str) -> int:
    return await count(app_pool, tenant_id, "SELECT count(*) FROM call_turns")


@pytest.mark.timeout(180)
async def test_a_call_ending_during_a_database_outage_loses_nothing(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str
) -> None:
    async with (
        pg_proxy(pg_urls.app) as proxy,
        running_engine(via_proxy(pg_urls.app, proxy), jwt_secret, app_pool) as engine,
    ):
        tenant_id, number = await engine.new_tenant(agent_name="Rae")
        caller_number = phone()
        said = (
            "Hi, my name is Lena and I need to add a driver.",
            "Her name is Mia, my daughter.",
            "Thanks, that's all. Bye.",
        )
        engine.sim.add_script(
            caller_number,
            Script(
                transcripts=said,
                replies=tuple(Reply(text=t) for t in ("Sure, who?", "Got it.", "Goodbye.")),
            ),
        )
        steps = (
            WaitForAgent(timeout=15),
            Speak(said[0]),
            WaitForAgent(timeout=15),
            Speak(said[1]),
            WaitForAgent(timeout=15),
            Speak(said[2]),
            WaitForAgent(timeout=15),
            HangUp(),
        )

        async def cut_after_first_words() -> float:
            for _ in range(1500):  # the greeting and the first words are stored
                if await _turns(app_pool, tenant_id) >= 2:
                    break
                await asyncio.sleep(0.02)
            proxy.refusing = True
            proxy.drop_all()
            return time.monotonic()

        cutting = asyncio.create_task(cut_after_first_words())
        result = await engine.caller().place_call(
            CallScript(from_number=caller_number, to_number=number, steps=steps), timeout=90
        )
        cut_at = await asyncio.wait_for(cutting, 5)
        assert result.violations == []
        call_sid = result.call_sid
        for _ in range(100):  # the call's end happens during the outage
            if engine.pool.reports:
                break
            await asyncio.sleep(0.05)
        assert [r.outcome for r in engine.pool.reports] == ["caller_hung_up"]
        assert await _turns(app_pool, tenant_id) < 7  # most of the call is not in Postgres
        record = await calls.get_call(app_pool, tenant_id, call_sid)
        assert record is not None
        assert record.outcome is None
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))
        proxy.refusing = False  # the database is back

        job = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = await jobs.status(app_pool, tenant_id, call_sid)
            if job is not None and job.status == "done":
                break
            await asyncio.sleep(0.25)
        assert job is not None
        assert job.status == "done"
        record = await calls.get_call(app_pool, tenant_id, call_sid)
        assert record is not None
        assert record.outcome == "caller_hung_up"
        assert record.ended_at is not None
        turns = await calls.load_turns(app_pool, tenant_id, call_sid)
        assert [t.seq for t in turns] == list(range(len(turns)))
        assert [t.text for t in turns if t.role == "caller"] == list(said)
        assert [t.text for t in turns if t.role == "agent"][-3:] == [
            "Sure, who?",
            "Got it.",
            "Goodbye.",
        ]
        assert (
            await count(
                app_pool,
                tenant_id,
                "SELECT count(*) FROM post_call_jobs WHERE call_sid = $1",
                call_sid,
            )
            == 1
        )
        assert (
            await count(
                app_pool,
                tenant_id,
                "SELECT count(*) FROM call_summaries WHERE call_sid = $1",
                call_sid,
            )
            == 1
        )
