"""What one turn batch costs the memory actor in round trips to Postgres: the transaction's own
statements and nothing on release (its pool sends no reset query), on the same connection
counts the client keeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from engine.sim.openai_http import OpenAIHttpSimulator
from memory import agent_settings
from memory.audit import SYSTEM
from memory.call_records import CallStart
from tests.conftest import PgUrls
from tests.memory_support import SIM_KEY, memory_config, new_tenant, phone, script, sid, token

BATCHES = 20
WARM = 16
# BEGIN with the tenant, the insert (which checks the content policy), COMMIT.
PER_BATCH = 3


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


def _queries(pool: asyncpg.Pool) -> int:
    """Statements sent so far over the pool's open connections."""
    holders = pool._holders  # type: ignore[attr-defined]
    return sum(h._con._protocol.queries_count for h in holders if h._con is not None)


async def test_a_turn_batch_is_its_transaction_and_no_reset(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    config = memory_config(
        pg_urls.app, jwt_secret, sim, outbox_poll_s=3600.0, post_call_poll_s=3600.0
    )
    actor = MemoryActor(config, index=1)  # no retention loop
    try:
        tenant = await new_tenant(app_pool)
        tok = token(jwt_secret, tenant)
        call_sid = sid()
        await actor.start_call(tok, CallStart(call_sid, phone(), "+15550000000"))
        await asyncio.sleep(0.3)  # the outbox wake the call row caused has been served
        pool = await actor._db()
        lines = [("caller", "My card is 4111 1111 1111 1111.")] * (WARM + BATCHES)
        turns = script(lines)
        for turn in turns[:WARM]:  # every pooled connection has prepared the statements
            await actor.append_turns(tok, call_sid, [turn])
        before = _queries(pool)
        for turn in turns[WARM:]:
            await actor.append_turns(tok, call_sid, [turn])
        assert _queries(pool) - before == BATCHES * PER_BATCH
        stored = await actor.load_turns(tok, call_sid)
        assert [t.seq for t in stored] == [t.seq for t in turns]
        assert "4111" not in stored[0].text  # still redacted
    finally:
        await actor.close()


async def test_a_changed_policy_holds_from_the_next_batch(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    """The policy a process last saw is checked by every write: turning redaction off, then
    transcripts off, then both back on, each holds from the very next batch."""
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim), index=1)
    try:
        tenant = await new_tenant(app_pool)
        tok = token(jwt_secret, tenant)
        call_sid = sid()
        await actor.start_call(tok, CallStart(call_sid, phone(), "+15550000000"))
        said = "My card is 4111 1111 1111 1111."
        steps: list[tuple[tuple[bool, bool], Callable[[str], bool]]] = [
            # (redact, keep transcripts), and what a stored turn's text must be
            ((True, True), lambda text: "4111" not in text and text != ""),
            ((False, True), lambda text: text == said),
            ((False, False), lambda text: text == ""),
            ((True, True), lambda text: "4111" not in text and text != ""),
        ]
        for step, ((redact, keep), _) in enumerate(steps):
            await _settings(app_pool, tenant, redact=redact, keep=keep)
            for repeat in range(2):  # the first batch under a new policy, and the next
                turns = script([("caller", said)], start=2 * step + repeat)
                await actor.append_turns(tok, call_sid, turns)
        stored = await actor.load_turns(tok, call_sid)
        assert len(stored) == 2 * len(steps)
        for turn in stored:
            assert steps[turn.seq // 2][1](turn.text), (turn.seq, turn.text)
    finally:
        await actor.close()


async def _settings(pool: asyncpg.Pool, tenant: str, *, redact: bool, keep: bool) -> None:
    changed = await agent_settings.update_settings(
        pool, tenant, SYSTEM, lambda s: replace(s, pii_redaction=redact, keep_transcripts=keep)
    )
    assert changed is not None
