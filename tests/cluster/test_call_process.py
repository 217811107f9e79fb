"""A call actor's process holds only what calls use (actors.call_process): Ray's serializer
add-ons (pydantic, starlette), the dev-only rich and httpx's command-line click are not loaded,
nor the ElevenLabs and OpenAI SDKs."""

from __future__ import annotations

import sys
from typing import Any

import ray

from actors import call_process, handles
from engine.cli.runtime import Engine


def test_a_call_actor_process_loads_no_pydantic_starlette_rich_or_click(ray_engine: Engine) -> None:
    def _process(_actor: Any) -> list[str]:
        # nested, so Ray sends it by value: importing this test module would load pydantic
        return sorted({name.split(".")[0] for name, module in sys.modules.items() if module})

    actor = handles.spawn_call_actor(ray_engine.config)
    try:
        ray.get(actor.start.remote(), timeout=60)
        loaded = ray.get(actor.__ray_call__.remote(_process), timeout=30)
    finally:
        handles.kill(actor)
    assert "actors" in loaded  # the call actor's own process
    assert "ray" in loaded
    kept_out = {"pydantic", "pydantic_core", "starlette", "rich", "pygments", "click"}
    assert kept_out & set(loaded) == set()
    # the SDKs stay out too: a call speaks both services' wire protocols itself
    assert {"elevenlabs", "openai"} & set(loaded) == set()


def test_a_call_actor_process_shares_few_malloc_arenas(ray_engine: Engine) -> None:
    """glibc reads the arena limit when the process starts: it is in the worker's environment,
    not set later from Python."""

    def _arena_max(_actor: Any) -> str | None:
        import os

        return os.environ.get("MALLOC_ARENA_MAX")

    actor = handles.spawn_call_actor(ray_engine.config)
    try:
        ray.get(actor.start.remote(), timeout=60)
        arena_max = ray.get(actor.__ray_call__.remote(_arena_max), timeout=30)
    finally:
        handles.kill(actor)
    assert arena_max == str(call_process.ARENA_MAX)
