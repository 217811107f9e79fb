"""Recovery on a real Ray: `kill -9` of a call actor mid-call. Twilio's stream breaks, Twilio
requests the `<Connect action>`, the webhook sees the call did not end on purpose and connects
it to a fresh actor, which resumes from the turns in Postgres. The caller stays on the line."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import asyncpg
import pytest
import ray

from actors import handles, ray_runtime
from engine.cli.runtime import Engine
from engine.secret_box import TWILIO_LABEL, SecretBox
from engine.sim.realtime import register_script
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Pause, Speak, TwilioCaller, WaitForAgent
from memory import calls, tenants
from tests.call_outcome import engine_outcome

pytestmark = pytest.mark.cluster

TOKEN = "recovery-auth-token"
FIRST = "I'm calling about the claim for my kitchen fire."
SECOND = "Yes, the claim number is 4471."


async def test_killed_call_actor_resumes_on_a_fresh_one(
    ray_engine: Engine, app_pool: asyncpg.Pool
) -> None:
    number = "+1555" + str(uuid.uuid4().int)[:7]
    tenant_id = await tenants.create_tenant(
        app_pool,
        tenants.NewTenant(name="Recovery Agency", numbers=(number,), twilio_auth_token=TOKEN),
        tokens=SecretBox(ray_engine.config.jwt_secret, TWILIO_LABEL),
    )
    await asyncio.to_thread(ray_engine.warm_tenants)
    caller_number = "+15550188001"
    base = ray_engine.config.openai_base_url
    await register_script(
        base,
        caller_number,
        Script(
            transcripts=(FIRST,), replies=(Reply(text="I can help. Do you have a claim number?"),)
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
            Speak(FIRST),
            WaitForAgent(timeout=20),
            Pause(4),
            Speak(SECOND),
            WaitForAgent(timeout=20),
            HangUp(),
        ),
    )
    call = asyncio.create_task(caller.place_call(script, timeout=120))

    pool = ray.get_actor(handles.POOL_NAME, namespace=ray_runtime.NAMESPACE)
    call_sid = ""
    for _ in range(600):  # wait until the first exchange is in Postgres, then kill
        await asyncio.sleep(0.05)
        stats = await pool.stats.remote()
        if not stats["active"]:
            continue
        for sid in await pool.active_calls.remote():
            turns = await calls.load_turns(app_pool, tenant_id, sid)
            if any(t.role == "agent" and "claim number" in t.text for t in turns):
                call_sid = sid
        if call_sid:
            break
    assert call_sid
    await register_script(
        base,
        caller_number,
        Script(
            transcripts=(SECOND,),
            replies=(
                Reply(text="Sorry about that - you were telling me about your kitchen fire claim."),
                Reply(text="Thank you, I have claim 4471 in front of me."),
            ),
        ),
    )
    actor = await pool.actor_for.remote(call_sid)
    health = await actor.check_health.remote()
    before = await calls.load_turns(app_pool, tenant_id, call_sid)
    os.kill(int(health["pid"]), signal.SIGKILL)
    killed_at = time.monotonic()

    result = await call
    assert len(result.streams) == 2
    assert result.streams[0].closed_by in ("error", "server")
    resumed = result.streams[1]
    assert resumed.first_media_at is not None
    gap_ms = (resumed.first_media_at - killed_at) * 1000
    assert gap_ms < 10_000

    record = await engine_outcome(app_pool, tenant_id, call_sid)
    assert record.outcome == "caller_hung_up"
    assert record.streams == 2
    turns = await calls.load_turns(app_pool, tenant_id, call_sid)
    assert [t.seq for t in turns] == list(range(len(turns)))  # nothing lost, nothing twice
    assert [(t.seq, t.text) for t in turns[: len(before)]] == [(t.seq, t.text) for t in before]
    said = [(t.role, t.text) for t in turns]
    assert said.count(("caller", FIRST)) == 1
    assert ("caller", SECOND) in said
    assert any(r == "agent" and t.startswith("Sorry about that") for r, t in said)
    assert ("agent", "Thank you, I have claim 4471 in front of me.") in said
    print(f"actor death -> resumed audio: {gap_ms:.0f} ms")
