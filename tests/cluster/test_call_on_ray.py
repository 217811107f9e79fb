"""End to end on a real local Ray with Serve: signed webhook -> TwiML -> media stream to a
call actor -> realtime simulator -> greeting heard -> caller speaks -> reply heard -> barge-in
(`clear` received, truncate sent) -> hang-up -> ordered transcript in Postgres."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from engine.cli.runtime import Engine
from engine.secret_box import TWILIO_LABEL, SecretBox
from engine.sim.realtime import register_script
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import BargeIn, CallScript, HangUp, Speak, TwilioCaller, WaitForAgent
from memory import calls, tenants
from tests.call_outcome import engine_outcome

pytestmark = pytest.mark.cluster

TOKEN = "cluster-auth-token"
LONG_REPLY = (
    "Sure. Comprehensive coverage pays for damage to your car from things other than a "
    "collision, such as theft, hail, fire, flooding or hitting a deer on a country road."
)


async def test_a_call_end_to_end_on_ray(ray_engine: Engine, app_pool: asyncpg.Pool) -> None:
    number = "+1555" + str(uuid.uuid4().int)[:7]
    tenant_id = await tenants.create_tenant(
        app_pool,
        tenants.NewTenant(
            name="Cluster Agency", numbers=(number,), twilio_auth_token=TOKEN, agent_name="Jo"
        ),
        tokens=SecretBox(ray_engine.config.jwt_secret, TWILIO_LABEL),
    )
    await asyncio.to_thread(ray_engine.warm_tenants)
    caller_number = "+15550177001"
    await register_script(
        ray_engine.config.openai_base_url,
        caller_number,
        Script(
            transcripts=("What is comprehensive coverage?", "Got it, thanks."),
            replies=(Reply(text=LONG_REPLY), Reply(text="You're welcome.")),
        ),
    )
    caller = TwilioCaller(
        webhook_base=ray_engine.webhook_base,
        public_base_url=ray_engine.config.public_base_url,
        auth_token=TOKEN,
    )
    script = CallScript(
        from_number=caller_number,
        to_number=number,
        steps=(
            WaitForAgent(timeout=20),
            Speak("What is comprehensive coverage?"),
            BargeIn(after_ms=1500, text="Got it, thanks."),
            WaitForAgent(timeout=20),
            HangUp(),
        ),
    )
    result = await caller.place_call(script, timeout=90)

    assert result.violations == []
    assert result.webhook_ms < 1000
    stream = result.streams[0]
    assert len(stream.clears) == 1
    assert result.heard_ms > 2000
    greeting = result.first_audio_after_start_ms()
    assert greeting is not None
    assert greeting < 1000

    sim = ray_engine.simulator
    assert sim is not None
    sessions = [s for s in sim.sim.sessions if caller_number in s.instructions]
    assert len(sessions) == 1
    truncates = [e for _, e in sessions[0].received if e["type"] == "conversation.item.truncate"]
    assert len(truncates) == 1
    assert truncates[0]["audio_end_ms"] >= 1000

    record = await engine_outcome(app_pool, tenant_id, result.call_sid)
    assert record.outcome == "caller_hung_up"
    assert record.streams == 1
    turns = await calls.load_turns(app_pool, tenant_id, result.call_sid)
    assert [t.seq for t in turns] == list(range(len(turns)))
    said = [(t.role, t.text) for t in turns]
    assert said[0][0] == "agent"
    assert "Jo" in said[0][1]
    assert ("caller", "What is comprehensive coverage?") in said
    assert ("caller", "Got it, thanks.") in said
    assert [t for t in turns if "interrupted_at_ms" in t.meta]

    async with httpx.AsyncClient(base_url=ray_engine.webhook_base, timeout=10) as http:
        health = await http.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        metrics = (await http.get("/metrics")).text
    assert 'neurosphere_calls_ended_total{outcome="caller_hung_up"}' in metrics
    assert "neurosphere_webhook_seconds_bucket" in metrics
    assert "neurosphere_barge_ins_total 1.0" in metrics or "neurosphere_barge_ins_total" in metrics
