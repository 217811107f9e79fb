"""Named-actor lookups from an event loop (actors.handles.NamedActors): found once, off the
loop, cached; a name whose actor was killed and created again is looked up afresh."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import pytest
import ray

from actors.handles import NamedActors
from actors.ray_runtime import NAMESPACE
from engine.cli.runtime import Engine


@ray.remote(num_cpus=0)
class Whoami:
    def pid(self) -> int:
        return os.getpid()


def _named(name: str) -> Any:
    handle = Whoami.options(name=name, namespace=NAMESPACE).remote()  # type: ignore[attr-defined]
    ray.get(handle.pid.remote())
    return handle


async def test_a_killed_and_recreated_actor_is_looked_up_again(ray_engine: Engine) -> None:
    name = f"test-whoami:{uuid.uuid4().hex[:8]}"
    first = _named(name)
    named = NamedActors()
    first_pid = await named.call(name, "pid", timeout=10)
    assert first_pid == await named.call(name, "pid", timeout=10)  # the cached handle

    ray.kill(first, no_restart=True)
    for _ in range(100):  # the name is free once the GCS has seen the actor die
        try:
            ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            break
        await asyncio.sleep(0.05)
    second = _named(name)
    try:
        second_pid = await named.call(name, "pid", timeout=10)
        assert second_pid != first_pid
    finally:
        ray.kill(second, no_restart=True)


async def test_no_such_actor_is_a_clear_error(ray_engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="is not running"):
        await NamedActors().call("test-nobody-here", "pid", timeout=5)


async def test_lookups_of_one_name_at_once_ask_the_gcs_once(ray_engine: Engine) -> None:
    name = f"test-whoami:{uuid.uuid4().hex[:8]}"
    actor = _named(name)
    asked: list[str] = []

    def lookup(wanted: str) -> Any | None:
        asked.append(wanted)
        return ray.get_actor(wanted, namespace=NAMESPACE)

    named = NamedActors(lookup)
    try:
        pids = await asyncio.gather(*(named.call(name, "pid", timeout=10) for _ in range(8)))
        assert len(set(pids)) == 1
        assert asked == [name]
        await named.call(name, "pid", timeout=10)  # cached since
        assert asked == [name]
    finally:
        ray.kill(actor, no_restart=True)


async def test_a_waiter_cancelled_leaves_the_lookup_to_the_others(ray_engine: Engine) -> None:
    name = f"test-whoami:{uuid.uuid4().hex[:8]}"
    actor = _named(name)
    named = NamedActors()
    try:
        first = asyncio.ensure_future(named.get(name))
        second = asyncio.ensure_future(named.get(name))
        await asyncio.sleep(0)
        first.cancel()
        assert await second is not None
        assert first.cancelled()
    finally:
        ray.kill(actor, no_restart=True)
