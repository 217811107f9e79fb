"""What turn batches cost the memory actor in round trips to Postgres, on the statement counts
the client keeps: one call's batch is its transaction's own statements and nothing on release
(its pool sends no reset query); a call actor process's tick of many calls' batches is one
statement. And what a batch still guarantees: each call answered alone, the content policy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import asyncpg
import pytest

from actors.memory_actor import MemoryActor
from actors.ports import TurnBatch
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


CALLS = 8
ROUNDS = 5


async def _calls(actor: MemoryActor, tok: str, n: int) -> list[str]:
    made = [sid() for _ in range(n)]
    for call_sid in made:
        await actor.start_call(tok, CallStart(call_sid, phone(), "+15550000000"))
    return made


async def test_many_calls_batches_are_one_statement_across_tenants(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    """A call actor process's tick: the batches of several calls of two tenants, each with its
    call's token, go in as one statement (one round trip), each tenant's under its own
    setting, the text under its tenant's policy."""
    config = memory_config(
        pg_urls.app, jwt_secret, sim, outbox_poll_s=3600.0, post_call_poll_s=3600.0
    )
    actor = MemoryActor(config, index=1)
    try:
        tenants = [await new_tenant(app_pool) for _ in range(2)]
        await _settings(app_pool, tenants[1], redact=False, keep=True)
        toks = [token(jwt_secret, t) for t in tenants]
        calls = [await _calls(actor, tok, CALLS // 2) for tok in toks]
        await asyncio.sleep(0.3)  # the outbox wakes the call rows caused have been served
        said = "My card is 4111 1111 1111 1111."

        def tick(round_: int) -> list[TurnBatch]:
            turns = tuple(script([("caller", said), ("agent", "Thanks.")], start=2 * round_))
            return [
                TurnBatch(tok, call_sid, turns)
                for tok, sids in zip(toks, calls, strict=True)
                for call_sid in sids
            ]

        pool = await actor._db()
        for round_ in range(WARM):  # every pooled connection has prepared the statement
            assert await actor.append_turn_batches(tick(round_)) == [None] * CALLS
        before = _queries(pool)
        for round_ in range(WARM, WARM + ROUNDS):
            assert await actor.append_turn_batches(tick(round_)) == [None] * CALLS
        assert _queries(pool) - before == ROUNDS  # one statement per tick, 8 calls, 2 tenants
        for tok, sids, redacted in zip(toks, calls, (True, False), strict=True):
            for call_sid in sids:
                stored = await actor.load_turns(tok, call_sid)
                assert [t.seq for t in stored] == list(range(2 * (WARM + ROUNDS)))
                assert ("4111" not in stored[0].text) is redacted
    finally:
        await actor.close()


async def test_a_refused_batch_fails_alone_and_lands_when_sent_again(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    """One tick with a bad token, a call that is another tenant's, a call with no row and a
    turn the database refuses: each of those fails alone, the others land; sent again as it
    should be, each lands once."""
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim), index=1)
    try:
        mine, theirs = await new_tenant(app_pool), await new_tenant(app_pool)
        tok, other_tok = token(jwt_secret, mine), token(jwt_secret, theirs)
        good = await _calls(actor, tok, 2)
        (other_call,) = await _calls(actor, other_tok, 1)
        (late,) = [sid()]  # its row is not written yet
        turns = tuple(script([("caller", "hello"), ("agent", "hi")]))
        batches = [
            TurnBatch(tok, good[0], turns),
            TurnBatch("not-a-token", good[1], turns),
            TurnBatch(tok, other_call, turns),  # a call that is not this tenant's
            TurnBatch(tok, late, turns),
            TurnBatch(other_tok, other_call, turns[:1]),
            TurnBatch(tok, good[1], (replace(turns[0], seq=-1),)),  # refused: seq >= 0
        ]
        answers = await actor.append_turn_batches(batches)
        assert answers[0] is None
        assert answers[4] is None
        assert all(a is not None for a in answers[1:4] + answers[5:])
        assert "4111" not in "".join(str(a) for a in answers)
        assert [t.seq for t in await actor.load_turns(tok, good[0])] == [0, 1]
        assert await actor.load_turns(tok, good[1]) == []
        assert await actor.load_turns(tok, other_call) == []  # nothing under the wrong tenant
        assert [t.seq for t in await actor.load_turns(other_tok, other_call)] == [0]

        await actor.start_call(tok, CallStart(late, phone(), "+15550000000"))
        again = [
            TurnBatch(tok, good[0], turns),  # answered already: a retry changes nothing
            TurnBatch(tok, good[1], turns),
            TurnBatch(tok, late, turns),
            TurnBatch(other_tok, other_call, turns),
        ]
        assert await actor.append_turn_batches(again) == [None] * 4
        for t, call_sid in ((tok, good[0]), (tok, good[1]), (tok, late), (other_tok, other_call)):
            assert [x.seq for x in await actor.load_turns(t, call_sid)] == [0, 1]
    finally:
        await actor.close()


async def test_a_changed_policy_holds_from_the_next_tick(
    pg_urls: PgUrls, jwt_secret: str, app_pool: asyncpg.Pool, sim: OpenAIHttpSimulator
) -> None:
    """Many calls' batches check each tenant's policy as they are written: a change made
    between two ticks holds for the second, for the tenant that changed only."""
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim), index=1)
    try:
        changing, steady = await new_tenant(app_pool), await new_tenant(app_pool)
        toks = {t: token(jwt_secret, t) for t in (changing, steady)}
        calls = {t: (await _calls(actor, toks[t], 1))[0] for t in toks}
        said = "My card is 4111 1111 1111 1111."
        for step, (redact, keep) in enumerate([(True, True), (False, True), (False, False)]):
            await _settings(app_pool, changing, redact=redact, keep=keep)
            turns = tuple(script([("caller", said)], start=step))
            batches = [TurnBatch(toks[t], calls[t], turns) for t in (changing, steady)]
            assert await actor.append_turn_batches(batches) == [None, None]
        changed = [t.text for t in await actor.load_turns(toks[changing], calls[changing])]
        assert "4111" not in changed[0]
        assert changed[0] != ""
        assert changed[1:] == [said, ""]
        kept = [t.text for t in await actor.load_turns(toks[steady], calls[steady])]
        assert all("4111" not in text and text != "" for text in kept)
    finally:
        await actor.close()
