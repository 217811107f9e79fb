"""One call actor serving calls one after another (what CallPool does with recycled actors):
the second call starts from a clean session - its own tenant's agent, its own transcript and
measurements - and the first call's media URL no longer opens anything."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator

import asyncpg
import pytest
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import BargeIn, CallScript, HangUp, Pause, Speak, WaitForAgent
from memory import calls
from tests.conftest import PgUrls
from tests.integration.engine_harness import AUTH_TOKEN, Engine, one_turn, running_engine


@pytest.fixture
async def engine(pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        running.pool.reuse = True
        yield running


async def test_a_recycled_actor_serves_the_next_call_with_nothing_of_the_last(
    engine: Engine,
) -> None:
    first_tenant, first_number = await engine.new_tenant(agent_name="Riley")
    second_tenant, second_number = await engine.new_tenant(agent_name="Morgan")
    engine.sim.add_script(
        "+15550143001",
        Script(
            transcripts=("My claim number is 4411.", "Wait, one more thing."),
            replies=(Reply(text="Thanks, I have noted claim 4411 for you today."),) * 2,
        ),
    )
    engine.sim.add_script(
        "+15550143002",
        Script(transcripts=("Hello there.",), replies=(Reply(text="Hi, how can I help?"),)),
    )
    first = await engine.caller().place_call(
        CallScript(
            from_number="+15550143001",
            to_number=first_number,
            steps=(
                WaitForAgent(timeout=15),
                Speak("My claim number is 4411."),
                BargeIn(after_ms=800, text="Wait, one more thing."),
                WaitForAgent(timeout=15),
                HangUp(),
            ),
        ),
        timeout=60,
    )
    second = await engine.caller().place_call(
        one_turn("+15550143002", second_number, "Hello there."), timeout=60
    )

    assert first.violations == []
    assert second.violations == []
    assert len(engine.pool.history) == 1  # one actor served both calls
    actor = engine.pool.history[0]
    assert (await actor.check_health())["served"] == 2

    second_session = engine.sim.sessions[-1]
    assert "Morgan" in second_session.instructions
    assert "Riley" not in second_session.instructions
    assert "4411" not in second_session.instructions

    turns = await calls.load_turns(engine.db, second_tenant, second.call_sid)
    assert [t.seq for t in turns] == list(range(len(turns)))
    assert not any("4411" in t.text or "Riley" in t.text for t in turns)
    assert "Morgan" in turns[0].text
    assert await calls.load_turns(engine.db, first_tenant, second.call_sid) == []

    first_report = await engine.pool.report_for(first.call_sid)
    second_report = await engine.pool.report_for(second.call_sid)
    assert len(engine.pool.reports) == 2
    assert first_report.barge_ins == 1
    assert second_report.barge_ins == 0
    assert 0 < second_report.frames_in < first_report.frames_in + second_report.frames_in

    # The first call's media URL, correctly signed, opens nothing on the reused actor.
    stale_url = first.streams[0].url
    signature = RequestValidator(AUTH_TOKEN).compute_signature(stale_url, {})
    with pytest.raises(InvalidStatus) as refused:
        async with connect(stale_url, additional_headers={"X-Twilio-Signature": signature}):
            pass
    assert refused.value.response.status_code in (403, 503)


@pytest.fixture
async def shared_engine(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str
) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool, calls_per_actor=2) as running:
        yield running


async def test_two_live_calls_share_an_actor_and_nothing_else(shared_engine: Engine) -> None:
    engine = shared_engine
    tenants = [await engine.new_tenant(agent_name=name) for name in ("Riley", "Morgan")]
    callers = ("+15550144001", "+15550144002")
    for caller, said in zip(callers, ("My claim is 5512.", "My claim is 7781."), strict=True):
        engine.sim.add_script(
            caller, Script(transcripts=(said,), replies=(Reply(text=f"Noted: {said}"),))
        )
    scripts = [
        one_turn(caller, number, said)
        for caller, (_, number), said in zip(
            callers, tenants, ("My claim is 5512.", "My claim is 7781."), strict=True
        )
    ]
    first, second = await asyncio.gather(
        *(engine.caller().place_call(script, timeout=60) for script in scripts)
    )

    assert first.violations == []
    assert second.violations == []
    assert len(engine.pool.history) == 1  # both calls ran in one actor, at the same time
    assert first.streams[0].url != second.streams[0].url  # told apart by the path
    for result, (tenant_id, _), own, other, agent in (
        (first, tenants[0], "5512", "7781", "Riley"),
        (second, tenants[1], "7781", "5512", "Morgan"),
    ):
        turns = await calls.load_turns(engine.db, tenant_id, result.call_sid)
        text = " ".join(t.text for t in turns)
        assert own in text
        assert other not in text
        assert agent in turns[0].text
    for result in (first, second):
        assert (await engine.pool.report_for(result.call_sid)).frames_in > 0


@pytest.fixture
async def flushing_engine(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str
) -> AsyncIterator[Engine]:
    async with running_engine(
        pg_urls.app, jwt_secret, app_pool, calls_per_actor=2, metrics_flush_s=2.0
    ) as running:
        yield running


async def test_a_recycled_call_leaves_nothing_of_itself_in_the_actor(
    flushing_engine: Engine,
) -> None:
    """Once its calls are over and recycled, the actor holds none of their sessions (their
    sockets' buffers, histories, tasks): not in the live measurements it last reported, not
    as its latest call. Each is freed, not kept until some later flush or call."""
    engine = flushing_engine
    _, number = await engine.new_tenant(agent_name="Riley")
    callers = ("+15550145001", "+15550145002")
    for caller in callers:
        engine.sim.add_script(
            caller, Script(transcripts=("Hello there.",), replies=(Reply(text="Hi there."),))
        )
    scripts = [
        CallScript(
            from_number=caller,
            to_number=number,
            # long enough for a live report: the actor's flush has held the session
            steps=(WaitForAgent(timeout=15), Speak("Hello there."), Pause(2.5), HangUp()),
        )
        for caller in callers
    ]
    results = await asyncio.gather(
        *(engine.caller().place_call(script, timeout=60) for script in scripts)
    )
    for result in results:
        await engine.pool.report_for(result.call_sid)
    (actor,) = engine.pool.history
    sessions = [weakref.ref(session) for session in actor._sessions.values()]
    assert len(sessions) == 2
    live_reported = {report.call_sid for _, report in engine.pool.live_reports}
    assert {result.call_sid for result in results} <= live_reported

    # each call by its sid, as the pool does: its end report can reach the pool a moment
    # before its session has finished, which recycling waits for
    for result in results:
        assert await actor.recycle(result.call_sid)
    gc.collect()

    assert actor._sessions == {}
    assert [ref() for ref in sessions] == [None, None]
    assert (await actor.check_health())["phase"] == "warm"
