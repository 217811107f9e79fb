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

from actors.ray_runtime import SHOWN_EVERY_S, Shown
from engine.cli.runtime import Engine
from engine.secret_box import TWILIO_LABEL, SecretBox
from engine.sim.realtime import register_script
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Pause, Speak, TwilioCaller, WaitForAgent
from memory import tenants

pytestmark = pytest.mark.cluster


@ray.remote(num_cpus=0)
class Showing:
    """An actor showing what it does as a call actor does (actors.ray_runtime.Shown)."""

    def __init__(self) -> None:
        self._shown = Shown("doing")

    async def doing(self, token: str) -> None:
        await self._shown.hold(token)

    async def show(self, key: str, label: str) -> None:
        self._shown.show(key, label)

    async def end(self, key: str) -> None:
        self._shown.end(key)


TOKEN = "dashboard-auth-token"
NAME = "Dashboard Insurance Agency"


def this_ray() -> str:
    """The engine's Ray by its address: other Ray instances on the machine must not make the
    state API ask which one is meant."""
    address: str = ray.get_runtime_context().gcs_address
    return address


def running(prefix: str, actor_id: str | None = None) -> list[Any]:
    """Running actor tasks whose name starts with `prefix` (of one actor, when given), as Ray's
    state API lists them."""
    filters: list[Any] = [("state", "=", "RUNNING")]
    if actor_id is not None:
        filters.append(("actor_id", "=", actor_id))
    tasks = list_tasks(
        address=this_ray(), filters=filters, limit=10_000, raise_on_missing_output=False
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


async def shown_names(actor_id: str, expected: list[str], timeout: float = 20.0) -> list[str]:
    """The names of `actor_id`'s running tasks, polled until they are `expected`."""
    deadline = time.monotonic() + timeout
    while True:
        names = sorted(t.name for t in await asyncio.to_thread(running, "", actor_id))
        if names == expected or time.monotonic() > deadline:
            return names
        await asyncio.sleep(0.5)


async def test_an_actor_shows_all_it_does_as_one_running_task(ray_engine: Engine) -> None:
    """Each running task of an async actor holds a fiber's stack in Ray's core worker: one
    task an actor, renamed as what it does changes, not one a call."""
    actor = Showing.remote()  # type: ignore[attr-defined]
    actor_id = actor._actor_id.hex()
    try:
        await actor.show.remote("a", "call CA1 (One)")
        await actor.show.remote("b", "call CA2 (Two)")
        assert await shown_names(actor_id, ["call CA1 (One); call CA2 (Two)"]) == [
            "call CA1 (One); call CA2 (Two)"
        ]
        await actor.end.remote("a")
        assert await shown_names(actor_id, ["call CA2 (Two)"]) == ["call CA2 (Two)"]
        await actor.end.remote("b")
        assert await shown_names(actor_id, []) == []
    finally:
        ray.kill(actor, no_restart=True)


async def test_changes_close_together_are_shown_by_one_task(ray_engine: Engine) -> None:
    """A burst of calls on one actor replaces its shown task once, not once a call."""
    actor = Showing.remote()  # type: ignore[attr-defined]
    actor_id = actor._actor_id.hex()
    try:
        labels = [f"call CA{i} (Burst)" for i in range(10)]
        for i, label in enumerate(labels):
            await actor.show.remote(str(i), label)
        assert await shown_names(actor_id, ["; ".join(labels)]) == ["; ".join(labels)]
        await asyncio.sleep(2 * SHOWN_EVERY_S)  # the task events of any other reach the GCS
        tasks = await asyncio.to_thread(
            list_tasks,
            address=this_ray(),
            filters=[("actor_id", "=", actor_id), ("func_or_class_name", "=", "Showing.doing")],
            raise_on_missing_output=False,
        )
        assert len(tasks) <= 2, [t.name for t in tasks]
    finally:
        ray.kill(actor, no_restart=True)


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
    assert live[0].func_or_class_name == "CallActor.live_calls"
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
