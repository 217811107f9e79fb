"""What an operator sees in Ray's state API (what the dashboard and `ray list` show) during a
call: the live call by its CallSid and tenant's name, the tenant actor by its name; after the
call, no live task for it."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import pytest
import ray
from ray.util.state import list_actors, list_tasks

from engine.cli.runtime import Engine
from engine.secret_box import TWILIO_LABEL, SecretBox
from engine.sim.realtime import register_script
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Pause, Speak, TwilioCaller, WaitForAgent
from memory import tenants

pytestmark = pytest.mark.cluster

TOKEN = "dashboard-auth-token"
NAME = "Dashboard Insurance Agency"


def this_ray() -> str:
    """The engine's Ray by its address: other Ray instances on the machine must not make the
    state API ask which one is meant."""
    address: str = ray.get_runtime_context().gcs_address
    return address


def running(prefix: str) -> list[Any]:
    """Running actor tasks whose name starts with `prefix`, as Ray's state API lists them."""
    tasks = list_tasks(
        address=this_ray(),
        filters=[("state", "=", "RUNNING")],
        limit=10_000,
        raise_on_missing_output=False,
    )
    return [t for t in tasks if t.name.startswith(prefix)]


async def wait_for(prefix: str, present: bool, timeout: float = 20.0) -> list[Any]:
    """Task events reach the GCS about once a second: poll until they say what is expected."""
    deadline = time.monotonic() + timeout
    while True:
        found = await asyncio.to_thread(running, prefix)
        if bool(found) == present or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


async def test_the_live_call_and_the_tenant_name_are_in_rays_state_api(
    ray_engine: Engine, app_pool: asyncpg.Pool
) -> None:
    number = "+1555" + str(uuid.uuid4().int)[:7]
    tenant_id = await tenants.create_tenant(
        app_pool,
        tenants.NewTenant(name=NAME, numbers=(number,), twilio_auth_token=TOKEN),
        tokens=SecretBox(ray_engine.config.jwt_secret, TWILIO_LABEL),
    )
    await asyncio.to_thread(ray_engine.warm_tenants)

    serving = await wait_for(f"tenant {NAME}", present=True)
    assert len(serving) == 1
    (tenant,) = await asyncio.to_thread(
        list_actors,
        address=this_ray(),
        filters=[("name", "=", f"tenant:{tenant_id}")],
        raise_on_missing_output=False,
    )
    assert serving[0].actor_id == tenant.actor_id
    assert serving[0].func_or_class_name == "TenantActor.serving"

    caller_number = "+15550177099"
    await register_script(
        ray_engine.config.openai_base_url,
        caller_number,
        Script(transcripts=("Hello there.",), replies=(Reply(text="Hi, how can I help?"),)),
    )
    caller = TwilioCaller(
        webhook_base=ray_engine.webhook_base,
        public_base_url=ray_engine.config.public_base_url,
        auth_token=TOKEN,
    )
    script = CallScript(
        from_number=caller_number,
        to_number=number,
        steps=(WaitForAgent(timeout=20), Speak("Hello there."), Pause(8.0), HangUp()),
    )
    call = asyncio.create_task(caller.place_call(script, timeout=90))
    live = await wait_for("call CA", present=True)
    live = [t for t in live if t.name.endswith(f"({NAME})")]
    assert len(live) == 1, [t.name for t in live]
    assert live[0].func_or_class_name == "CallActor.live_call"
    (actor,) = await asyncio.to_thread(
        list_actors,
        address=this_ray(),
        filters=[("actor_id", "=", live[0].actor_id)],
        detail=True,
        raise_on_missing_output=False,
    )
    assert actor.class_name == "CallActor"
    assert "warm" not in (actor.repr_name or "")

    result = await call
    assert result.violations == []
    assert live[0].name == f"call {result.call_sid} ({NAME})"
    deadline = time.monotonic() + 20
    while any(t.name == live[0].name for t in await asyncio.to_thread(running, "call ")):
        assert time.monotonic() < deadline, "the call's task still runs after it ended"
        await asyncio.sleep(0.5)
