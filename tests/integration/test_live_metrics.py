"""A live call's measurements reach the pool while it lasts (every `metrics_flush_s`, one
report for all the actor's live calls), not only when it hangs up: a long call is not
invisible on /metrics until its end."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Pause, Speak, WaitForAgent
from tests.conftest import PgUrls
from tests.integration.engine_harness import running_engine

FLUSH_S = 0.5


async def test_a_live_call_reports_its_measurements_before_it_ends(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str
) -> None:
    async with running_engine(pg_urls.app, jwt_secret, app_pool, metrics_flush_s=FLUSH_S) as engine:
        _, number = await engine.new_tenant(agent_name="Riley")
        caller = "+15550143001"
        engine.sim.add_script(
            caller, Script(transcripts=("Hello there.",), replies=(Reply(text="Hi, go ahead."),))
        )
        script = CallScript(
            from_number=caller,
            to_number=number,
            steps=(WaitForAgent(timeout=15), Speak("Hello there."), Pause(3.0), HangUp()),
        )
        result = await engine.caller().place_call(script, timeout=60)
        ended = time.monotonic()
        assert result.violations == []
        for _ in range(200):  # the end report follows the hang-up
            if engine.pool.reports:
                break
            await asyncio.sleep(0.05)
        (final,) = engine.pool.reports
        live = [(at, r) for at, r in engine.pool.live_reports if r.call_sid == final.call_sid]
        assert len(live) >= 3  # a call of some five seconds, reported every half second
        before_end = [r for at, r in live if at < ended - 1.0]
        assert before_end, "no report while the call was live"
        assert all(r.outcome == "live" for _, r in live)
        assert before_end[-1].frames_in > 0
        assert before_end[-1].greeting_ms is not None
        frames = [r.frames_in for _, r in live]
        assert frames == sorted(frames)  # cumulative
        assert final.frames_in >= frames[-1]
        assert final.outcome != "live"
