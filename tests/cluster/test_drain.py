"""Lifecycle on a real Ray: a call in progress survives a graceful restart of the ingress (a
process that does not hold it), then its own call actor is drained - the call goes on until
the bound, then it is ended with its outcome recorded and its post-call work queued, and
Twilio's `<Connect action>` is answered with a hang-up. The drain is `neurosphere pool drain`,
as an operator runs it against the engine's Ray."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest
import ray
from ray import serve

from actors import handles, ray_runtime
from admin_api.deployment import Ingress
from engine import cli
from engine.cli.runtime import SERVE_APP, Engine
from engine.secret_box import TWILIO_LABEL, SecretBox
from engine.sim.realtime import register_script
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Pause, Speak, TwilioCaller, WaitForAgent
from memory import calls, jobs, tenants

pytestmark = pytest.mark.cluster

TOKEN = "drain-auth-token"
FIRST = "I'd like to add my daughter to my car policy."
SECOND = "She is seventeen and just got her licence."


def _restart_ingress(engine: Engine) -> None:
    """A rolling restart of the ingress replica, as a new release causes one: Serve starts a new
    replica (it binds the same port beside the old one) and then stops the old one gracefully."""
    options = {
        "num_cpus": 0,
        "resources": {"node:__internal_head__": 0.001},
        "runtime_env": {"env_vars": {"NEUROSPHERE_RELEASE": uuid.uuid4().hex}},
    }
    app = Ingress.options(ray_actor_options=options).bind(  # type: ignore[attr-defined]
        engine.config, engine.settings.http_host, engine.settings.http_port
    )
    serve.run(app, name=SERVE_APP, route_prefix=None)


async def test_a_live_call_survives_an_ingress_restart_and_is_closed_by_its_drain(
    ray_engine: Engine,
    app_pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    number = "+1555" + str(uuid.uuid4().int)[:7]
    tenant_id = await tenants.create_tenant(
        app_pool,
        tenants.NewTenant(name="Drain Agency", numbers=(number,), twilio_auth_token=TOKEN),
        tokens=SecretBox(ray_engine.config.jwt_secret, TWILIO_LABEL),
    )
    await asyncio.to_thread(ray_engine.warm_tenants)
    caller_number = "+15550188002"
    await register_script(
        ray_engine.config.openai_base_url,
        caller_number,
        Script(
            transcripts=(FIRST, SECOND),
            replies=(
                Reply(text="Happy to. How old is she?"),
                Reply(text="Thanks, I have added her as a driver."),
            ),
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
            Pause(15),  # the ingress restarts meanwhile
            Speak(SECOND),
            WaitForAgent(timeout=20),
            Pause(120),  # still on the line when its actor is drained
            HangUp(),
        ),
    )
    call = asyncio.create_task(caller.place_call(script, timeout=200))

    pool = ray.get_actor(handles.POOL_NAME, namespace=ray_runtime.NAMESPACE)
    call_sid = ""
    for _ in range(600):
        await asyncio.sleep(0.05)
        for sid in await pool.active_calls.remote():
            turns = await calls.load_turns(app_pool, tenant_id, sid)
            if any(t.role == "agent" and "How old" in t.text for t in turns):
                call_sid = sid
        if call_sid:
            break
    assert call_sid

    await asyncio.to_thread(_restart_ingress, ray_engine)
    record = await calls.get_call(app_pool, tenant_id, call_sid)
    assert record is not None
    assert record.outcome is None  # the restart did not touch the call

    for _ in range(600):  # the second exchange happens on the same stream
        turns = await calls.load_turns(app_pool, tenant_id, call_sid)
        if any(t.role == "agent" and "added her" in t.text for t in turns):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("no second exchange after the ingress restart")

    # a rolling replacement, as an operator starts it: others go on
    began = time.monotonic()
    monkeypatch.setenv("RAY_ADDRESS", ray.get_runtime_context().gcs_address)
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, ["pool", "drain", "--bound", "2"]) == 0
    assert 1.5 < time.monotonic() - began < 30
    printed = capsys.readouterr().out
    assert "drained: 1 live call(s), 0 finished, 1 ended at the bound" in printed, printed

    result = await asyncio.wait_for(call, 60)
    assert len(result.streams) == 1
    assert result.streams[0].closed_by == "server"
    assert result.refused_say is None  # the <Connect action> answered a plain hang-up

    record = await calls.get_call(app_pool, tenant_id, call_sid)
    assert record is not None
    assert record.outcome == "engine_shutdown"
    assert record.ended_at is not None
    assert await jobs.status(app_pool, tenant_id, call_sid) is not None
    # the pool admits again, on actors started after the drain (a start takes a few seconds)
    for _ in range(300):
        if (await pool.stats.remote())["warm"] >= 1:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("no warm call actor after a rolling drain")
