"""The `search_knowledge` tool's lookup on real Postgres with the simulator's embeddings: the
tenant's own entries, titled for citing, never another tenant's and never a caller's data."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from engine.sim.openai_http import OpenAIHttpSimulator
from memory.caller_records import NewMemory
from tests.conftest import PgUrls
from tests.memory_support import SIM_KEY, memory_config, new_tenant, phone, sid, token


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


async def test_search_knowledge_finds_only_the_agencys_own_entries(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim))
    try:
        mine, theirs = await new_tenant(app_pool), await new_tenant(app_pool)
        tok, other = token(jwt_secret, mine), token(jwt_secret, theirs)
        await actor.save_knowledge(tok, "fact", "Office hours", "Open Monday to Friday 9 to 5.")
        await actor.save_knowledge(
            tok, "procedure", "Glass claims", "Windshield claims go to Safelite."
        )
        await actor.save_knowledge(other, "fact", "Office hours", "Open on Sundays only.")
        await actor.remember(
            tok, NewMemory(phone(), sid(), "fact", "hours", "caller works night shifts")
        )
        await actor.search_knowledge(tok, "when is the office open", 3)  # warm the embedder
        started = time.perf_counter()
        hits = await actor.search_knowledge(tok, "when is the office open", 3)
        elapsed_ms = (time.perf_counter() - started) * 1000
        print(f"search_knowledge lookup: {elapsed_ms:.1f} ms")
        assert {h.ref for h in hits} == {"Office hours", "Glass claims"}
        assert all(h.source == "knowledge" for h in hits)
        assert "Sundays" not in " ".join(h.text for h in hits)
        assert "night shifts" not in " ".join(h.text for h in hits)
        assert await actor.search_knowledge(tok, "   ", 3) == []
    finally:
        await actor.close()
