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
